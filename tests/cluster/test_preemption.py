"""The seed's PriorityClasses on full GPU nodes: ml-high preempts ml-low, and
ml-low (preemptionPolicy Never) preempts nothing, even below it."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from kubernetes.client import CoreV1Api

from tests.kube import GPU, gone_or_terminating, pod_manifest, wait_running, wait_until

pytestmark = pytest.mark.cluster


def free_gpu_nodes(core: CoreV1Api) -> list[tuple[str, int]]:
    """Simulated nodes whose GPUs no live pod requests, with their GPU count."""
    used: dict[str, int] = {}
    for pod in core.list_pod_for_all_namespaces(field_selector="spec.nodeName!=").items:
        if pod.status.phase in ("Succeeded", "Failed"):
            continue
        for container in pod.spec.containers:
            requests = (container.resources.requests if container.resources else None) or {}
            used[pod.spec.node_name] = used.get(pod.spec.node_name, 0) + int(requests.get(GPU, "0"))
    nodes = core.list_node(label_selector="sim.gpu-portal/simulated=true").items
    return sorted(
        (node.metadata.name, int(node.status.allocatable[GPU]))
        for node in nodes
        if int(node.status.allocatable.get(GPU, "0")) > 0 and used.get(node.metadata.name, 0) == 0
    )


def pending_reason(core: CoreV1Api, namespace: str, name: str) -> str | None:
    pod = core.read_namespaced_pod(name, namespace)
    if pod.status.phase != "Pending":
        return None
    scheduled = {c.type: c for c in pod.status.conditions or []}.get("PodScheduled")
    return scheduled.reason if scheduled and scheduled.status == "False" else None


def test_priority_classes_carry_the_seed_values(ml_priority_classes: dict[str, int]) -> None:
    assert ml_priority_classes == {"ml-critical": 1000000, "ml-high": 100000, "ml-low": 1000}


def test_ml_high_preempts_ml_low_and_ml_low_preempts_nothing(
    core: CoreV1Api, namespace: Callable[..., str], ml_priority_classes: dict[str, int]
) -> None:
    # given two free GPU nodes, filled by pods pinned to them: one by an ml-low
    # pod, one by a pod without priority (0, below ml-low)
    free = wait_until(
        lambda: free_gpu_nodes(core)[:2] if len(free_gpu_nodes(core)) >= 2 else None,
        timeout=60,
        what="two GPU nodes with no GPU in use",
    )
    (low_node, low_gpus), (zero_node, zero_gpus) = free
    ns = namespace()
    core.create_namespaced_pod(ns, pod_manifest("filler-low", gpus=low_gpus, priority_class="ml-low", node=low_node))
    core.create_namespaced_pod(ns, pod_manifest("filler-zero", gpus=zero_gpus, node=zero_node))
    wait_running(core, ns, "filler-low")
    wait_running(core, ns, "filler-zero")

    # when an ml-low pod (preemptionPolicy Never) wants a GPU on the node of the priority-0 filler
    core.create_namespaced_pod(ns, pod_manifest("low-waiter", gpus=1, priority_class="ml-low", node=zero_node))

    # then it stays pending and preempts nothing
    wait_until(
        lambda: pending_reason(core, ns, "low-waiter") == "Unschedulable",
        timeout=30,
        what="the ml-low pod to be found unschedulable",
    )
    time.sleep(5)  # give the scheduler a few more attempts to (wrongly) preempt
    waiter = core.read_namespaced_pod("low-waiter", ns)
    assert waiter.status.phase == "Pending"
    assert not waiter.status.nominated_node_name
    assert not gone_or_terminating(core, ns, "filler-zero")

    # when an ml-high pod wants GPUs on the node of the ml-low filler
    core.create_namespaced_pod(ns, pod_manifest("high", gpus=4, priority_class="ml-high", node=low_node))

    # then the ml-low filler is preempted and the ml-high pod runs in its place
    wait_until(
        lambda: gone_or_terminating(core, ns, "filler-low"), timeout=60, what="the ml-low filler to be preempted"
    )
    high = wait_running(core, ns, "high", timeout=90)
    assert high.spec.node_name == low_node
    assert high.spec.priority == ml_priority_classes["ml-high"]
    assert not gone_or_terminating(core, ns, "filler-zero")
    events = core.list_namespaced_event(ns, field_selector="involvedObject.name=filler-low").items
    assert "Preempted" in {event.reason for event in events}
