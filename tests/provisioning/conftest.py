"""Fixtures for provisioning: the real API server behind a proxy the test can cut."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from provisioning import applying
from teams.models import Cluster, TeamNamespace
from tests.clusters import connect
from tests.kube import WORKER_CONTEXT, wait_pods_allowed, wait_quota_synced
from tests.provisioning.proxy import TcpProxy


@pytest.fixture
def applied(world, cluster, core, unique_name) -> TeamNamespace:
    """The seed's ml-research (8 guaranteed GPUs) under a fresh name, applied, its quota active."""
    namespace = world.namespace("ml-research")
    namespace.pk = None
    namespace.name = unique_name("applied")
    namespace.save()
    applying.apply_namespace(namespace)
    wait_quota_synced(core, namespace.name, "ml-research-quota")
    wait_pods_allowed(core, namespace.name)
    namespace.refresh_from_db()
    return namespace


@pytest.fixture
def proxy(kubeconfig_path, tmp_path, db) -> Iterator[tuple[TcpProxy, Cluster]]:
    """The default cluster, reached through a proxy the test can cut."""
    document = yaml.safe_load(kubeconfig_path.read_text())
    context = next(c["context"] for c in document["contexts"] if c["name"] == WORKER_CONTEXT)
    entry = next(c for c in document["clusters"] if c["name"] == context["cluster"])
    server = urlparse(entry["cluster"]["server"])
    forwarder = TcpProxy((server.hostname, server.port))
    entry["cluster"]["server"] = f"https://127.0.0.1:{forwarder.port}"
    _inline_certificates(entry["cluster"], kubeconfig_path.parent)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    forwarder.forward()
    cluster = connect("proxied", kubeconfig_path=str(path), context=WORKER_CONTEXT, is_default=True)
    yield forwarder, cluster
    forwarder.close()


def _inline_certificates(entry: dict, base: Path) -> None:
    authority = entry.get("certificate-authority")
    if authority and not Path(authority).is_absolute():
        entry["certificate-authority"] = str(base / authority)
