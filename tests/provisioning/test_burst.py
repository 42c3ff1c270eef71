"""GPU burst on the real API server: the seed's literal quota versus the tier's enforced burst."""

import pytest
from kubernetes.client.exceptions import ApiException

from provisioning.applying import desired_objects
from provisioning.cluster import ClusterGateway
from provisioning.manifests import render_priority_class
from teams.models import Cluster, GpuTier, TeamNamespace
from tests.kube import api_message, pod_manifest, wait_pods_allowed, wait_quota_synced

pytestmark = [pytest.mark.django_db, pytest.mark.cluster]


def make_namespace(world, name: str, *, enforced: bool) -> TeamNamespace:
    """2 guaranteed GPUs and a limit of 4, the seed's "32 limit, 8 guaranteed" at a smaller scale."""
    tier = GpuTier.objects.get(slug="high-priority")
    tier.enforces_gpu_burst = enforced
    tier.save()
    return TeamNamespace.objects.create(
        name=name,
        cluster=Cluster.objects.get_default(),
        team=world.research,
        tier=tier,
        quotas=[{"name": "gpus", "hard": {"requests.nvidia.com/gpu": "2", "limits.nvidia.com/gpu": "4", "pods": "10"}}],
    )


def admit(core, namespace: str, name: str, gpus: int, priority_class: str | None) -> str:
    """Create a pod; return "admitted", or the API server's refusal."""
    try:
        core.create_namespaced_pod(namespace, pod_manifest(name, gpus=gpus, priority_class=priority_class))
    except ApiException as error:
        return api_message(error)
    return "admitted"


def apply(cluster, namespace: TeamNamespace) -> list[str]:
    with ClusterGateway(cluster) as gateway:
        gateway.apply_namespace(namespace.name, desired_objects(namespace))
    return [o["metadata"]["name"] for o in desired_objects(namespace) if o["kind"] == "ResourceQuota"]


def test_enforced_burst_renders_a_guaranteed_and_a_burst_quota(world):
    namespace = make_namespace(world, "burst", enforced=True)

    quotas = {o["metadata"]["name"]: o["spec"] for o in desired_objects(namespace) if o["kind"] == "ResourceQuota"}

    assert quotas == {
        "gpus": {"hard": {"pods": "10"}},
        "burst-guaranteed": {
            "hard": {"requests.nvidia.com/gpu": "2"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["ml-low"]}]
            },
        },
        "burst-burst": {
            "hard": {"requests.nvidia.com/gpu": "2"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-low"]}]
            },
        },
    }


def test_the_seeds_literal_gpu_limit_lets_no_pod_burst(world, cluster, core, unique_name):
    namespace = make_namespace(world, unique_name("literal"), enforced=False)
    with ClusterGateway(cluster) as gateway:  # experiments run at ml-low, which this quota does not name
        gateway.apply([render_priority_class(GpuTier.objects.get(slug="best-effort"))])
    for quota in apply(cluster, namespace):
        wait_quota_synced(core, namespace.name, quota)
    wait_pods_allowed(core, namespace.name)

    assert admit(core, namespace.name, "training", 2, "ml-high") == "admitted"
    refused = admit(core, namespace.name, "experiment", 2, "ml-low")

    assert "exceeded quota: gpus" in refused
    assert "limited: requests.nvidia.com/gpu=2" in refused


def test_enforced_burst_holds_guaranteed_gpus_and_lets_preemptible_pods_burst_to_the_limit(
    world, cluster, core, unique_name
):
    namespace = make_namespace(world, unique_name("enforced"), enforced=True)
    for quota in apply(cluster, namespace):
        wait_quota_synced(core, namespace.name, quota)
    wait_pods_allowed(core, namespace.name)
    guaranteed, burst = f"{namespace.name}-guaranteed", f"{namespace.name}-burst"

    assert admit(core, namespace.name, "training", 2, "ml-high") == "admitted"
    beyond_guarantee = admit(core, namespace.name, "training-2", 1, "ml-high")
    no_class = admit(core, namespace.name, "unlabelled", 1, None)
    assert admit(core, namespace.name, "experiment", 2, "ml-low") == "admitted"
    beyond_limit = admit(core, namespace.name, "experiment-2", 1, "ml-low")

    assert f"exceeded quota: {guaranteed}" in beyond_guarantee
    # A pod that names no PriorityClass is not preemptible, so it counts against the guarantee.
    assert f"exceeded quota: {guaranteed}" in no_class
    assert f"exceeded quota: {burst}" in beyond_limit


def test_the_seeds_best_effort_namespace_gives_gpus_only_to_preemptible_pods(world, cluster, core, unique_name):
    namespace = world.namespace("ml-experiments")
    namespace.name = unique_name("experiments")
    with ClusterGateway(cluster) as gateway:  # the class of the pod that must be refused
        gateway.apply([render_priority_class(GpuTier.objects.get(slug="high-priority"))])
    for quota in apply(cluster, namespace):
        wait_quota_synced(core, namespace.name, quota)
    wait_pods_allowed(core, namespace.name)

    high = admit(core, namespace.name, "training", 1, "ml-high")
    no_class = admit(core, namespace.name, "unlabelled", 1, None)
    assert admit(core, namespace.name, "experiment", 8, "ml-low") == "admitted"
    beyond_limit = admit(core, namespace.name, "experiment-2", 1, "ml-low")

    assert "exceeded quota: ml-experiments-guaranteed" in high
    assert "exceeded quota: ml-experiments-guaranteed" in no_class
    assert "exceeded quota: ml-experiments-quota" in beyond_limit
