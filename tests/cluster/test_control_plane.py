"""The control plane answers as Kubernetes v1.20.2 and carries the simulated GPU nodes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, CoreV1Api, VersionApi

from tests.kube import GPU, K8S_VERSION

pytestmark = pytest.mark.cluster


def test_api_server_reports_v1_20_2(admin_api: ApiClient) -> None:
    version = VersionApi(admin_api).get_code()

    assert (version.git_version, version.major, version.minor) == (K8S_VERSION, "1", "20")


def test_built_kubectl_matches_the_server(kubectl: Path, kubeconfig_path: Path) -> None:
    result = subprocess.run(
        [str(kubectl), "--kubeconfig", str(kubeconfig_path), "version", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    versions = json.loads(result.stdout)

    assert versions["clientVersion"]["gitVersion"] == K8S_VERSION
    assert versions["serverVersion"]["gitVersion"] == K8S_VERSION


def test_simulated_gpu_nodes_are_ready_with_gpus_allocatable(core: CoreV1Api) -> None:
    nodes = core.list_node(label_selector="sim.gpu-portal/simulated=true").items

    assert len(nodes) >= 1
    for node in nodes:
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        assert ready == "True", node.metadata.name
        allocatable = node.status.allocatable.items()
        advertised = {name: int(count) for name, count in allocatable if name.startswith("nvidia.com/")}
        assert advertised, f"{node.metadata.name} advertises no GPU resource"
        assert all(count > 0 for count in advertised.values()), advertised
        if GPU in advertised:
            assert advertised == {GPU: int(node.metadata.labels["nvidia.com/gpu.count"])}
        assert node.metadata.labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
        assert not [t for t in node.spec.taints or [] if t.key == "node.kubernetes.io/not-ready"]


def test_local_cluster_has_eight_whole_gpu_nodes_and_two_partitioned_ones(
    core: CoreV1Api, is_local_cluster: bool
) -> None:
    if not is_local_cluster:
        pytest.skip("the 8 x 8 GPU default and the two partitioned nodes are the local cluster's (cluster/lib.sh)")
    nodes = {node.metadata.name: node for node in core.list_node(label_selector="sim.gpu-portal/simulated=true").items}

    assert sorted(nodes, key=lambda name: int(name.rsplit("-", 1)[1])) == [f"gpu-node-{i}" for i in range(10)]
    whole = [nodes[f"gpu-node-{i}"].status.allocatable for i in range(8)]
    assert [int(allocatable[GPU]) for allocatable in whole] == [8] * 8
    partitioned = {
        name: {key: count for key, count in nodes[name].status.allocatable.items() if key.startswith("nvidia.com/")}
        for name in ("gpu-node-8", "gpu-node-9")
    }
    assert partitioned == {
        "gpu-node-8": {"nvidia.com/mig-1g.10gb": "30", "nvidia.com/mig-2g.20gb": "6", "nvidia.com/mig-3g.40gb": "4"},
        "gpu-node-9": {"nvidia.com/gpu.shared": "32"},
    }


def test_controller_manager_created_the_default_service_account(core: CoreV1Api) -> None:
    account = core.read_namespaced_service_account("default", "default")

    assert account.metadata.name == "default"
