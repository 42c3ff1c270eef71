"""The cluster gateway against the real API server, as the worker's least-privilege identity."""

import pytest
from kubernetes.client.exceptions import ApiException

from provisioning.applying import desired_objects
from provisioning.cluster import (
    ClusterGateway,
    ConflictError,
    OwnershipError,
    PermanentError,
    TransientError,
)
from provisioning.manifests import MANAGED_SELECTOR
from teams.models import TeamNamespace
from tests.clusters import connect
from tests.kube import wait_quota_settled
from tests.seed import seed_manifest

pytestmark = [pytest.mark.django_db, pytest.mark.cluster]


@pytest.fixture
def research(world, unique_name) -> TeamNamespace:
    """The seed's ml-research, under a name of this test's own."""
    namespace = world.namespace("ml-research")
    namespace.name = unique_name("research")
    return namespace


def quota_versions(core, name: str) -> dict[str, str]:
    return {q.metadata.name: q.metadata.resource_version for q in core.list_namespaced_resource_quota(name).items}


def test_applying_twice_changes_nothing(cluster, core, research):
    with ClusterGateway(cluster) as gateway:
        gateway.apply_namespace(research.name, desired_objects(research))
        wait_quota_settled(core, research.name, "ml-research-quota")
        before = quota_versions(core, research.name)

        again = gateway.apply_namespace(research.name, desired_objects(research))

    assert quota_versions(core, research.name) == before
    assert {item.name: item.resource_version for item in again if item.kind == "ResourceQuota"} == before


def test_applied_objects_carry_the_ownership_label_and_the_portal_as_field_manager(cluster, core, research):
    with ClusterGateway(cluster) as gateway:
        gateway.apply_namespace(research.name, desired_objects(research))

    quota = core.read_namespaced_resource_quota("ml-research-quota", research.name)
    namespace = core.read_namespace(research.name)
    assert quota.metadata.labels == {"app.kubernetes.io/managed-by": "gpu-portal"}
    assert {entry.manager for entry in quota.metadata.managed_fields} >= {"gpu-portal"}
    assert namespace.metadata.labels["gpu-tier"] == "high-priority"


def test_a_field_another_manager_changed_is_a_conflict_naming_it_never_silently_forced(cluster, core, research):
    with ClusterGateway(cluster) as gateway:
        gateway.apply_namespace(research.name, desired_objects(research))
        core.patch_namespaced_resource_quota(
            "ml-research-quota", research.name, {"spec": {"hard": {"pods": "99"}}}, field_manager="kubectl-edit"
        )

        with pytest.raises(ConflictError) as raised:
            gateway.apply_namespace(research.name, desired_objects(research))
        assert core.read_namespaced_resource_quota("ml-research-quota", research.name).spec.hard["pods"] == "99"

        gateway.apply_namespace(research.name, desired_objects(research), force=True)

    assert raised.value.managers == ["kubectl-edit"]
    assert "conflict" in str(raised.value).lower()
    assert core.read_namespaced_resource_quota("ml-research-quota", research.name).spec.hard["pods"] == "50"


def test_an_unmanaged_namespace_is_left_untouched(cluster, core, research):
    core.create_namespace({"metadata": {"name": research.name, "labels": {"owner": "someone-else"}}})

    with ClusterGateway(cluster) as gateway, pytest.raises(OwnershipError) as raised:
        gateway.apply_namespace(research.name, desired_objects(research))

    assert str(raised.value).startswith(
        f"Namespace {research.name} already exists on cluster local and is not managed by the portal"
    )
    assert core.read_namespace(research.name).metadata.labels == {"owner": "someone-else"}
    assert core.list_namespaced_resource_quota(research.name).items == []


def test_an_adopted_namespace_is_taken_over(cluster, core, research):
    core.create_namespace({"metadata": {"name": research.name}})

    with ClusterGateway(cluster) as gateway:
        gateway.apply_namespace(research.name, desired_objects(research), allow_unmanaged=True)

    assert core.read_namespace(research.name).metadata.labels["app.kubernetes.io/managed-by"] == "gpu-portal"


@pytest.mark.parametrize("name", ["kube-system", "default"])
def test_reserved_namespaces_are_refused_even_when_adopted(cluster, name):
    with ClusterGateway(cluster) as gateway, pytest.raises(OwnershipError, match="reserved for the cluster itself"):
        gateway.apply_namespace(name, [], allow_unmanaged=True)


def test_dry_run_gives_the_api_servers_verdict_and_stores_nothing(cluster, core, unique_name):
    name = unique_name("dry")
    core.create_namespace({"metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "gpu-portal"}}})
    as_written = seed_manifest("ResourceQuota", "ml-production-quota")
    as_written["metadata"]["namespace"] = name

    with ClusterGateway(cluster) as gateway, pytest.raises(PermanentError) as raised:
        gateway.apply([as_written], dry_run=True)

    assert raised.value.status == 422
    assert "unsupported scope applied to resource" in str(raised.value)
    assert core.list_namespaced_resource_quota(name).items == []


def test_an_unreachable_api_server_is_a_transient_error(db, kubeconfig_path, proxy):
    forwarder, cluster = proxy
    forwarder.refuse()

    with ClusterGateway(cluster) as gateway, pytest.raises(TransientError, match="did not answer"):
        gateway.node_gpu_capacity()


def test_readiness_is_the_api_servers_readyz_as_the_worker_sees_it(db, proxy):
    forwarder, cluster = proxy

    with ClusterGateway(cluster) as gateway:
        answering = gateway.is_ready()
    forwarder.refuse()
    with ClusterGateway(cluster) as gateway:
        cut_off = gateway.is_ready()

    assert (answering, cut_off) == (True, False)


def test_a_missing_kubeconfig_is_a_permanent_error(db):
    cluster = connect("elsewhere", kubeconfig_path="/nonexistent/kubeconfig")

    with pytest.raises(PermanentError, match="Cannot load the connection of cluster elsewhere"):
        ClusterGateway(cluster)


def test_quota_usage_is_listed_across_namespaces_in_pages(cluster, core, world, unique_name):
    names = [unique_name("page") for _ in range(3)]
    with ClusterGateway(cluster) as gateway:
        for name in names:
            namespace = world.namespace("ml-production")
            namespace.name = name
            gateway.apply_namespace(name, desired_objects(namespace))
        everything = core.list_resource_quota_for_all_namespaces(label_selector=MANAGED_SELECTOR).items

        paged = ClusterGateway(cluster, page_size=2).list_quota_usage()

    # Other tests' namespaces may finish terminating between the two LISTs: compare ours only.
    ours = set(names)
    assert sorted((q.namespace, q.name) for q in paged if q.namespace in ours) == sorted(
        (q.metadata.namespace, q.metadata.name) for q in everything if q.metadata.namespace in ours
    )
    assert {(q.namespace, q.name) for q in paged} >= {(n, "ml-production-objects") for n in names}


def test_node_gpu_capacity_sums_allocatable_gpus_of_ready_nodes(cluster, core):
    nodes = core.list_node().items
    ready = [
        node
        for node in nodes
        if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        and not node.spec.unschedulable
    ]

    with ClusterGateway(cluster) as gateway:
        capacity = gateway.node_gpu_capacity()

    assert capacity.ready_nodes == len(ready) > 0
    assert capacity.gpus == sum(int(node.status.allocatable.get("nvidia.com/gpu", "0")) for node in ready) > 0


def test_the_worker_identity_cannot_read_secrets(cluster):
    with ClusterGateway(cluster) as gateway, pytest.raises(ApiException) as raised:
        gateway.core.list_namespaced_secret("default")

    assert raised.value.status == 403
