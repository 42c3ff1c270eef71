"""Simulated GPU nodes: registered through the API, kept Ready by a heartbeat.

A node created through the API gets the ``node.kubernetes.io/not-ready``
NoSchedule taint from admission, and the node-lifecycle controller that would
lift it is not running locally, so the simulator lifts it once the node is Ready.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from .connection import MERGE_PATCH, STRATEGIC_MERGE
from .events import log_event
from .options import SimulatorOptions

logger = logging.getLogger(__name__)

SIMULATED_LABEL = "sim.gpu-portal/simulated"
GPU_RESOURCE = "nvidia.com/gpu"
NODE_CPU = "64"
NODE_MEMORY = "512Gi"
NODE_PODS = "110"
NODE_EPHEMERAL_STORAGE = "1Ti"
KUBELET_VERSION = "v1.20.2"
# Taints the node lifecycle controller would remove once the node reports Ready.
LIFECYCLE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def node_names(options: SimulatorOptions) -> list[str]:
    """The whole-GPU nodes, then the partitioned ones."""
    return [f"{options.node_prefix}{index}" for index in range(options.nodes + len(options.partitioned_nodes))]


def gpu_resources(name: str, options: SimulatorOptions) -> dict[str, str]:
    """What a node advertises of GPUs: nvidia.com/gpu, or (a partitioned node) its MIG slices or shared GPUs.

    NVIDIA's device plugin does the same: a GPU in MIG mode (strategy "mixed") is offered as
    `nvidia.com/mig-<profile>` units, a time-sliced one (renamed) as `nvidia.com/gpu.shared`.
    """
    index = int(name.removeprefix(options.node_prefix))
    if index < options.nodes:
        return {GPU_RESOURCE: str(options.gpus_per_node)}
    return {resource: str(count) for resource, count in options.partitioned_nodes[index - options.nodes]}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_manifest(name: str, options: SimulatorOptions) -> dict:
    """The Node object as a GPU node's kubelet would register it."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": _instance_type(name, options),
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": options.gpu_product,
                "nvidia.com/gpu.count": str(options.gpus_per_node),
                SIMULATED_LABEL: "true",
            },
            "annotations": {"sim.gpu-portal/owner": "provisioning.simulator"},
        },
        "spec": {},
    }


def _instance_type(name: str, options: SimulatorOptions) -> str:
    resources = gpu_resources(name, options)
    if GPU_RESOURCE in resources:
        return f"sim-gpu-{options.gpus_per_node}"
    return "sim-gpu-partitioned"


def node_status(name: str, options: SimulatorOptions) -> dict:
    """Capacity, allocatable and Ready conditions, refreshed on every heartbeat."""
    resources = {
        "cpu": NODE_CPU,
        "memory": NODE_MEMORY,
        "pods": NODE_PODS,
        "ephemeral-storage": NODE_EPHEMERAL_STORAGE,
        **gpu_resources(name, options),
    }
    timestamp = now()

    def condition(kind: str, status: str, reason: str, message: str) -> dict:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": timestamp,
            "lastTransitionTime": timestamp,
        }

    return {
        "capacity": resources,
        "allocatable": resources,
        "phase": "Running",
        "conditions": [
            condition("Ready", "True", "KubeletReady", "simulated kubelet is posting ready status"),
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "simulated"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "simulated"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "simulated"),
            condition("NetworkUnavailable", "False", "RouteCreated", "simulated"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": "127.0.0.1"},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": name,
            "kernelVersion": "simulated",
            "osImage": "GPU portal simulated node",
            "containerRuntimeVersion": "sim://1.0.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


class NodeKeeper:
    """Registers the simulated nodes and keeps them Ready and untainted."""

    def __init__(self, api_client: ApiClient, options: SimulatorOptions, stop: threading.Event) -> None:
        self._core = CoreV1Api(api_client)
        self._options = options
        self._stop = stop
        self._registered: set[str] = set()

    def step(self) -> None:
        """One heartbeat over all nodes, then a wait until the next."""
        self.prune_extra_nodes()
        for name in node_names(self._options):
            if self._stop.is_set():
                return
            self.ensure_node(name)
        self._stop.wait(self._options.heartbeat_seconds)

    def ensure_node(self, name: str) -> None:
        try:
            node = self._core.read_node(name)
        except ApiException as error:
            if error.status != 404:
                raise
            node = self._core.create_node(node_manifest(name, self._options))
            log_event(logger, "node.registered", node=name, resources=gpu_resources(name, self._options))
        else:
            labels = node_manifest(name, self._options)["metadata"]["labels"]
            if any((node.metadata.labels or {}).get(key) != value for key, value in labels.items()):
                self._core.patch_node(name, {"metadata": {"labels": labels}}, _content_type=STRATEGIC_MERGE)
        self._core.patch_node_status(name, {"status": node_status(name, self._options)}, _content_type=STRATEGIC_MERGE)
        taints = [taint for taint in (node.spec.taints or []) if taint.key not in LIFECYCLE_TAINTS]
        if len(taints) != len(node.spec.taints or []):
            # spec.taints has no merge key: a merge patch replaces the whole list.
            remaining = [
                {key: value for key, value in {"key": t.key, "value": t.value, "effect": t.effect}.items() if value}
                for t in taints
            ] or None
            self._core.patch_node(name, {"spec": {"taints": remaining}}, _content_type=MERGE_PATCH)
            log_event(logger, "node.ready", node=name, untainted="node.kubernetes.io/not-ready")
        elif name not in self._registered:
            log_event(logger, "node.ready", node=name)
        self._registered.add(name)

    def prune_extra_nodes(self) -> None:
        """Deletes simulated nodes of ours beyond --nodes (left by a bigger earlier run)."""
        wanted = set(node_names(self._options))
        nodes = self._core.list_node(label_selector=f"{SIMULATED_LABEL}=true").items
        for node in nodes:
            name = node.metadata.name
            if name.startswith(self._options.node_prefix) and name not in wanted:
                suffix = name[len(self._options.node_prefix) :]
                if suffix.isdigit():
                    self._core.delete_node(name)
                    log_event(logger, "node.removed", node=name)
