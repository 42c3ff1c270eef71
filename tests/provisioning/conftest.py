"""Fixtures for provisioning: the real API server behind a proxy the test can cut."""

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from provisioning.models import Cluster
from tests.kube import WORKER_CONTEXT
from tests.provisioning.proxy import TcpProxy


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
    cluster = Cluster.objects.create(name="proxied", kubeconfig_path=str(path), context=WORKER_CONTEXT, is_default=True)
    yield forwarder, cluster
    forwarder.close()


def _inline_certificates(entry: dict, base: Path) -> None:
    authority = entry.get("certificate-authority")
    if authority and not Path(authority).is_absolute():
        entry["certificate-authority"] = str(base / authority)
