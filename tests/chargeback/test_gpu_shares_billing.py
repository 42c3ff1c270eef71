"""MIG slices and shared GPUs on the real local cluster: scheduled on a partitioned node, synced, billed by weight.

The test runs its own simulated node (provisioning.simulator) beside the shared cluster's: one
partitioned node that advertises 7 `mig-1g.10gb`, 2 `mig-3g.40gb`, 4 `gpu.shared` and 1 whole
`nvidia.com/gpu`, tainted so that only this test's pods land there. Weights are the demo's
(teams.demo.GPU_RESOURCES): 1g.10gb 0.142857, 3g.40gb 0.428571, shared 0.25, a GPU 1.

By hand, per hour, each quota line in milli-GPUs rounded up (chargeback.integration):

    reserved (the quota's hard)             used (the pods' requests)
    7 x 0.142857 = 0.999999 ->  1000        3 x 0.142857 = 0.428571 ->  429
    2 x 0.428571 = 0.857142 ->   858        1 x 0.428571 = 0.428571 ->  429
    4 x 0.25     = 1        ->  1000        2 x 0.25     = 0.5      ->  500
    1 x 1        = 1        ->  1000        1 x 1        = 1        -> 1000
                               3858 milli-GPUs                         2358

Over two hours: 7.716 GPU-hours reserved, 4.716 used; at high-priority's 2.40 per reserved
GPU-hour, 7.716 x 2.40 = 18.5184, billed 18.52.
"""

import argparse
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from kubernetes.client import CoreV1Api

from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import floor_hour, roll_up
from provisioning import applying
from provisioning.cluster import ClusterGateway
from provisioning.simulator.nodes import node_manifest
from provisioning.simulator.options import add_arguments, options_from
from provisioning.simulator.runner import run
from provisioning.sync import sync_capacity, sync_usage
from teams import workflow
from teams.catalog import TierCatalog
from teams.models import Request
from tests.kube import ADMIN_CONTEXT, quota_used, wait_pods_allowed, wait_quota_synced, wait_running, wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.cluster]

MIG_1G, MIG_3G, SHARED, GPU = (
    "nvidia.com/mig-1g.10gb",
    "nvidia.com/mig-3g.40gb",
    "nvidia.com/gpu.shared",
    "nvidia.com/gpu",
)
NODE_RESOURCES = {MIG_1G: 7, MIG_3G: 2, SHARED: 4, GPU: 1}
TAINT_KEY = "sim.gpu-portal/test"
PODS = {"slices": {MIG_1G: 3}, "big-slice": {MIG_3G: 1}, "shared": {SHARED: 2}, "whole": {GPU: 1}, "cpu-only": {}}


@pytest.fixture
def partitioned_node(kubeconfig_path, core: CoreV1Api) -> Iterator[str]:
    """One simulated partitioned node of the test's own, kept Ready by the simulator's node keeper and kubelet."""
    prefix = f"mig-{uuid.uuid4().hex[:8]}-"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    spec = ",".join(f"{name}={count}" for name, count in NODE_RESOURCES.items())
    argv = ["--kubeconfig", str(kubeconfig_path), "--context", ADMIN_CONTEXT, "--nodes", "0", "--node-prefix", prefix]
    argv += ["--partitioned-node", spec, "--start-delay", "0.2", "--heartbeat-seconds", "5", "--log-level", "WARNING"]
    options = options_from(vars(parser.parse_args(argv)))
    name = f"{prefix}0"
    manifest = node_manifest(name, options)
    manifest["spec"] = {"taints": [{"key": TAINT_KEY, "value": name, "effect": "NoSchedule"}]}
    core.create_node(manifest)
    stop = threading.Event()
    simulator = threading.Thread(target=run, args=(options, stop), daemon=True)
    simulator.start()
    try:
        wait_until(
            lambda: (core.read_node(name).status.allocatable or {}).get(MIG_1G) == "7",
            timeout=60,
            what=f"node {name} to advertise its slices",
        )
        yield name
    finally:
        stop.set()
        simulator.join(timeout=10)
        core.delete_node(name)


def pod(name: str, node: str, resources: dict[str, int]) -> dict:
    container: dict = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "infinity"]}
    if resources:
        amounts = {resource: str(count) for resource, count in resources.items()}
        container["resources"] = {"requests": amounts, "limits": dict(amounts)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [container],
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{"key": TAINT_KEY, "operator": "Equal", "value": node, "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 0,
        },
    }


@pytest.fixture
def sliced_namespace(world, cluster, core, unique_name):
    """A research namespace holding slices, shared and whole GPUs, asked for and approved through the workflow."""
    name = unique_name("mig")
    zero = {resource: "0" for resource in NODE_RESOURCES}
    request = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CREATE_NAMESPACE,
        namespace_name=name,
        proposed={
            "tier": "high-priority",
            "quotas": [
                {
                    "name": "mig-quota",
                    "hard": {**{f"requests.{r}": str(count) for r, count in NODE_RESOURCES.items()}, "pods": "10"},
                }
            ],
            "limitRange": {
                "name": "gpu-defaults",
                "limits": [{"type": "Container", "default": zero, "defaultRequest": zero, "max": {MIG_1G: "7"}}],
            },
        },
        justification="Notebooks on MIG slices and shared GPUs.",
    )
    workflow.approve_request(request.pk, actor=world.approver)
    namespace = world.namespace(name)
    applying.apply_namespace(namespace)
    wait_quota_synced(core, name, "mig-quota")
    wait_pods_allowed(core, name)
    return namespace


def test_slices_and_shared_gpus_are_billed_by_weight(
    settings, world, cluster, core, partitioned_node, sliced_namespace
):
    settings.CHARGEBACK_MAX_GAP_SECONDS = 3 * 3600
    name = sliced_namespace.name
    for pod_name, resources in PODS.items():
        core.create_namespaced_pod(name, pod(pod_name, partitioned_node, resources))
    for pod_name in PODS:
        assert wait_running(core, name, pod_name).spec.node_name == partitioned_node
    expected_used = {f"requests.{MIG_1G}": "3", f"requests.{MIG_3G}": "1", f"requests.{SHARED}": "2"}
    wait_until(
        lambda: {key: quota_used(core, name, "mig-quota").get(key) for key in expected_used} == expected_used,
        timeout=60,
        what="the quota controller to count the slices",
    )
    # The LimitRange's defaults of 0: the CPU-only container holds no slice.
    cpu_only = core.read_namespaced_pod("cpu-only", name).spec.containers[0].resources
    assert cpu_only.requests == {MIG_1G: "0", MIG_3G: "0", SHARED: "0", GPU: "0"}
    start = floor_hour(timezone.now()) + timedelta(hours=1)

    sync_usage(cluster, now=start)
    roll_up(now=start + timedelta(hours=2, minutes=10), max_hours=10)
    report = build_report(
        ReportQuery(start=start, end=start + timedelta(hours=2), group_by="namespace"),
        viewer=world.finance,
        now=start + timedelta(hours=2),
    )

    (row,) = [row for row in report["rows"] if row["group"] == name]
    assert {key: row[key] for key in ("gpu_reserved_hours", "gpu_used_hours", "gpu_burst_hours")} == {
        "gpu_reserved_hours": "7.716000",
        "gpu_used_hours": "4.716000",
        "gpu_burst_hours": "0.000000",
    }
    assert (row["cost_gpu_reserved"], row["cost_gpu_burst"]) == ("18.52", "0.00")
    sliced_namespace.refresh_from_db()
    assert sliced_namespace.guaranteed_gpus == Decimal("3.857141")  # 0.999999 + 0.857142 + 1 + 1


def test_capacity_counts_the_slices_nodes_advertise_by_weight(world, cluster, core, partitioned_node):
    weights = TierCatalog.load().weights

    with ClusterGateway(cluster) as gateway:
        mine = gateway.node_gpu_capacity(weights)
    nodes = core.list_node().items
    synced = sync_capacity(cluster)

    ready = [
        node
        for node in nodes
        if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        and not node.spec.unschedulable
    ]
    by_hand = sum(
        (
            Decimal(node.status.allocatable.get(resource, "0")) * weight
            for node in ready
            for resource, weight in weights.items()
        ),
        Decimal(0),
    )
    node = next(node for node in ready if node.metadata.name == partitioned_node)
    assert sum(Decimal(node.status.allocatable[r]) * weights[r] for r in NODE_RESOURCES) == Decimal("3.857141")
    assert mine.gpus == by_hand
    assert synced.gpu_capacity == by_hand
