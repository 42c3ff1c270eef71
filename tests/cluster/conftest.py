"""Fixtures for the tests that run against a real Kubernetes API server.

The kubeconfig is the interface: ``$KUBECONFIG`` if set, else the local
cluster's ``.cluster/kubeconfig`` (``make cluster``). Nothing is mocked; each
test works in throwaway namespaces that are deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, CoreV1Api, SchedulingV1Api
from kubernetes.client.exceptions import ApiException

from tests.kube import LOCAL_KUBECONFIG, wait_pods_allowed
from tests.seed import seed_manifest

THROWAWAY_LABEL = "gpu-portal.test/throwaway"


@pytest.fixture(scope="session")
def is_local_cluster(kubeconfig_path: Path) -> bool:
    """True when the tests run against this repo's own control plane (cluster/up.sh)."""
    return kubeconfig_path.resolve() == LOCAL_KUBECONFIG.resolve()


@pytest.fixture
def namespace(core: CoreV1Api, request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Factory of uniquely named throwaway namespaces, deleted after the test."""
    created: list[str] = []
    prefix = request.node.name.removeprefix("test_").replace("_", "-")[:30].strip("-")

    def create(labels: dict[str, str] | None = None) -> str:
        name = f"t-{prefix}-{uuid.uuid4().hex[:6]}"
        core.create_namespace({"metadata": {"name": name, "labels": {THROWAWAY_LABEL: "true", **(labels or {})}}})
        created.append(name)
        wait_pods_allowed(core, name)
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
