"""Fixtures for provisioning: the real local API server, a real Celery worker, throwaway names."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from portal.celery import app as celery_app
from provisioning.models import Cluster
from tests.kube import WORKER_CONTEXT
from tests.provisioning.proxy import TcpProxy
from tests.provisioning.worker import running_worker


@pytest.fixture
def cluster(db, kubeconfig_path) -> Cluster:
    """The default cluster, reached as the worker's least-privilege identity."""
    return Cluster.objects.create(
        name="local", kubeconfig_path=str(kubeconfig_path), context=WORKER_CONTEXT, is_default=True
    )


@pytest.fixture
def unique_name(core) -> Iterator[Callable[[str], str]]:
    """Namespace names no other test uses; whatever of them reached the cluster is deleted after."""
    names: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            core.delete_namespace(name, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise


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


@pytest.fixture
def fast_retries(settings) -> None:
    settings.PROVISIONING_MAX_RETRIES = 3
    settings.PROVISIONING_RETRY_BACKOFF = 1


@pytest.fixture
def worker(transactional_db, fast_retries) -> Iterator[None]:
    celery_app.control.purge()
    with running_worker():
        yield
