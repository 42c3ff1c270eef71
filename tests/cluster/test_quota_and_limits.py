"""The seed's ml-research-quota and ml-limit-range on a real API server:
what they do as written, and what the portal's corrections change."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from tests.kube import (
    GPU,
    api_message,
    pod_manifest,
    quota_used,
    wait_quota_synced,
    wait_running,
    wait_until,
)
from tests.seed import seed_manifest

pytestmark = pytest.mark.cluster


def apply_seed_policy(core: CoreV1Api, namespace: str, *, fixed: bool) -> None:
    """Creates the seed's quota and LimitRange in ``namespace``; ``fixed`` adds the
    portal's correction: default and defaultRequest of 0 GPUs per container."""
    limit_range = seed_manifest("LimitRange", "ml-limit-range", namespace)
    if fixed:
        container = limit_range["spec"]["limits"][0]
        container["default"][GPU] = "0"
        container["defaultRequest"][GPU] = "0"
    core.create_namespaced_limit_range(namespace, limit_range)
    core.create_namespaced_resource_quota(namespace, seed_manifest("ResourceQuota", "ml-research-quota", namespace))
    wait_quota_synced(core, namespace, "ml-research-quota")


def test_seed_limit_range_gives_a_cpu_only_pod_eight_gpus(core: CoreV1Api, namespace: Callable[..., str]) -> None:
    # given the seed's LimitRange: a max of 8 GPUs and no default
    ns = namespace()
    apply_seed_policy(core, ns, fixed=False)

    # when a CPU-only pod asks for nothing
    pod = core.create_namespaced_pod(ns, pod_manifest("cpu-only"))

    # then the max became its default: 8 GPUs, the whole quota
    resources = pod.spec.containers[0].resources
    assert resources.limits == {"cpu": "2", "memory": "8Gi", GPU: "8"}
    assert resources.requests == {"cpu": "1", "memory": "4Gi", GPU: "8"}
    wait_until(
        lambda: quota_used(core, ns, "ml-research-quota").get(f"requests.{GPU}") == "8",
        timeout=30,
        what="the CPU-only pod to use 8 GPUs of the quota",
    )
    # and the next CPU-only pod is refused
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(ns, pod_manifest("cpu-only-2"))
    assert refused.value.status == 403
    assert api_message(refused.value) == (
        'pods "cpu-only-2" is forbidden: exceeded quota: ml-research-quota, '
        f"requested: requests.{GPU}=8, used: requests.{GPU}=8, limited: requests.{GPU}=8"
    )


def test_fixed_limit_range_defaults_to_zero_gpus(core: CoreV1Api, namespace: Callable[..., str]) -> None:
    ns = namespace()
    apply_seed_policy(core, ns, fixed=True)

    pod = core.create_namespaced_pod(ns, pod_manifest("cpu-only"))

    resources = pod.spec.containers[0].resources
    assert resources.limits == {"cpu": "2", "memory": "8Gi", GPU: "0"}
    assert resources.requests == {"cpu": "1", "memory": "4Gi", GPU: "0"}
    wait_running(core, ns, "cpu-only")
    wait_until(
        lambda: quota_used(core, ns, "ml-research-quota").get("pods") == "1",
        timeout=30,
        what="the quota to count the pod",
    )
    assert quota_used(core, ns, "ml-research-quota")[f"requests.{GPU}"] == "0"


def test_limit_range_max_refuses_nine_gpus(core: CoreV1Api, namespace: Callable[..., str]) -> None:
    ns = namespace()
    apply_seed_policy(core, ns, fixed=True)

    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(ns, pod_manifest("too-big", gpus=9))

    assert refused.value.status == 403
    assert api_message(refused.value) == (
        f'pods "too-big" is forbidden: maximum {GPU} usage per Container is 8, but limit is 9'
    )


def test_quota_counts_running_gpu_pods_and_refuses_beyond(core: CoreV1Api, namespace: Callable[..., str]) -> None:
    # given the corrected policy and two pods that use the 8 guaranteed GPUs
    ns = namespace()
    apply_seed_policy(core, ns, fixed=True)
    for name in ("train-a", "train-b"):
        core.create_namespaced_pod(ns, pod_manifest(name, gpus=4))

    # then both run and status.used follows them
    for name in ("train-a", "train-b"):
        pod = wait_running(core, ns, name)
        assert pod.spec.node_name.startswith("gpu-node-")
    wait_until(
        lambda: quota_used(core, ns, "ml-research-quota").get(f"requests.{GPU}") == "8",
        timeout=30,
        what="status.used to reach 8 GPUs",
    )

    # when one more GPU is asked for, the API server refuses it
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(ns, pod_manifest("beyond", gpus=1))
    assert refused.value.status == 403
    assert api_message(refused.value) == (
        'pods "beyond" is forbidden: exceeded quota: ml-research-quota, '
        f"requested: requests.{GPU}=1, used: requests.{GPU}=8, limited: requests.{GPU}=8"
    )

    # and used follows a pod going away
    core.delete_namespaced_pod("train-a", ns)
    wait_until(
        lambda: quota_used(core, ns, "ml-research-quota").get(f"requests.{GPU}") == "4",
        timeout=45,
        what="status.used to drop to 4 GPUs",
    )


def test_limits_gpu_in_a_quota_is_accepted_but_never_counted(core: CoreV1Api, namespace: Callable[..., str]) -> None:
    ns = namespace()
    quota = seed_manifest("ResourceQuota", "ml-research-quota", ns)
    quota["spec"]["hard"] = {f"requests.{GPU}": "8", f"limits.{GPU}": "32"}
    created = core.create_namespaced_resource_quota(ns, copy.deepcopy(quota))
    assert created.spec.hard[f"limits.{GPU}"] == "32"
    wait_quota_synced(core, ns, "ml-research-quota")

    core.create_namespaced_pod(ns, pod_manifest("train", gpus=2, cpu="1", memory="1Gi"))
    wait_running(core, ns, "train")
    used = wait_until(
        lambda: (u := quota_used(core, ns, "ml-research-quota")).get(f"requests.{GPU}") == "2" and u,
        timeout=30,
        what="requests.nvidia.com/gpu to count the pod",
    )

    assert used.get(f"limits.{GPU}", "0") == "0"
