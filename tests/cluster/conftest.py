"""Fixtures for the tests that run against a real Kubernetes API server.

The kubeconfig is the interface: ``$KUBECONFIG`` if set, else the local
cluster's ``.cluster/kubeconfig`` (``make cluster``). Nothing is mocked; each
test works in throwaway namespaces that are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import config
from kubernetes.client import ApiClient, CoreV1Api, SchedulingV1Api
from kubernetes.client.exceptions import ApiException

from .kube import seed_manifest, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_KUBECONFIG = REPO_ROOT / ".cluster" / "kubeconfig"
K8S_VERSION = "v1.20.2"
ADMIN_CONTEXT = "gpu-portal-admin"
WORKER_CONTEXT = "gpu-portal-worker"
THROWAWAY_LABEL = "gpu-portal.test/throwaway"


@pytest.fixture(scope="session")
def kubeconfig_path() -> Path:
    path = Path(os.environ.get("KUBECONFIG") or LOCAL_KUBECONFIG)
    if not path.is_file():
        pytest.fail(f"no kubeconfig at {path}: run `make cluster` (or set KUBECONFIG to another cluster's)")
    return path


@pytest.fixture(scope="session")
def kubeconfig_contexts(kubeconfig_path: Path) -> dict:
    document = yaml.safe_load(kubeconfig_path.read_text())
    return {
        "names": [context["name"] for context in document.get("contexts") or []],
        "current": document.get("current-context"),
    }


@pytest.fixture(scope="session")
def is_local_cluster(kubeconfig_path: Path) -> bool:
    """True when the tests run against this repo's own control plane (cluster/up.sh)."""
    return kubeconfig_path.resolve() == LOCAL_KUBECONFIG.resolve()


@pytest.fixture(scope="session")
def admin_api(kubeconfig_path: Path, kubeconfig_contexts: dict) -> Iterator[ApiClient]:
    """cluster-admin: ``$KUBE_ADMIN_CONTEXT``, else gpu-portal-admin, else the current context."""
    context = os.environ.get("KUBE_ADMIN_CONTEXT") or (
        ADMIN_CONTEXT if ADMIN_CONTEXT in kubeconfig_contexts["names"] else kubeconfig_contexts["current"]
    )
    client = config.new_client_from_config(config_file=str(kubeconfig_path), context=context)
    yield client
    client.close()


@pytest.fixture(scope="session")
def worker_api(kubeconfig_path: Path, kubeconfig_contexts: dict) -> Iterator[ApiClient]:
    """The portal worker's least-privilege identity (cluster/rbac.yaml)."""
    context = os.environ.get("KUBE_WORKER_CONTEXT") or WORKER_CONTEXT
    if context not in kubeconfig_contexts["names"]:
        pytest.skip(f"kubeconfig has no context {context!r} for the portal worker (set KUBE_WORKER_CONTEXT)")
    client = config.new_client_from_config(config_file=str(kubeconfig_path), context=context)
    yield client
    client.close()


@pytest.fixture(scope="session")
def core(admin_api: ApiClient) -> CoreV1Api:
    return CoreV1Api(admin_api)


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The kubectl built with the local cluster (same version as the server)."""
    cache = Path(os.environ.get("GPU_PORTAL_CACHE") or Path.home() / ".cache" / "gpu-portal")
    path = Path(os.environ.get("KUBECTL") or cache / f"kubernetes-{K8S_VERSION}" / "bin" / "kubectl")
    if not path.is_file():
        pytest.fail(f"no kubectl at {path}: run `make cluster` (or set KUBECTL)")
    return path


def service_account_ready(core: CoreV1Api, namespace: str) -> bool:
    """Pods are refused (500 "No API token found") until the controller manager has made
    the namespace's default ServiceAccount and its token secret."""
    try:
        account = core.read_namespaced_service_account("default", namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return bool(account.secrets)


@pytest.fixture
def namespace(core: CoreV1Api, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Factory of uniquely named throwaway namespaces, deleted after the test."""
    created: list[str] = []
    prefix = request.node.name.removeprefix("test_").replace("_", "-")[:30].strip("-")

    def create(labels: dict[str, str] | None = None) -> str:
        name = f"t-{prefix}-{uuid.uuid4().hex[:6]}"
        core.create_namespace({"metadata": {"name": name, "labels": {THROWAWAY_LABEL: "true", **(labels or {})}}})
        created.append(name)
        wait_until(
            lambda: service_account_ready(core, name),
            timeout=60,
            what=f"the default ServiceAccount of {name} and its token",
        )
        return name

    yield create
    for name in created:
        try:
            core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture(scope="session")
def ml_priority_classes(admin_api: ApiClient) -> dict[str, int]:
    """The seed's ml-critical / ml-high / ml-low PriorityClasses, created if missing."""
    scheduling = SchedulingV1Api(admin_api)
    values = {}
    for name in ("ml-critical", "ml-high", "ml-low"):
        manifest = seed_manifest("PriorityClass", name)
        try:
            existing = scheduling.read_priority_class(name)
        except ApiException as error:
            if error.status != 404:
                raise
            existing = scheduling.create_priority_class(manifest)
        values[name] = existing.value
    return values
