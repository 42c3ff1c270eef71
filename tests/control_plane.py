"""A second, throwaway local control plane: the shared cluster's binaries, its own state dir and ports.

For what the shared cluster (port 6443) must never be put through: being stopped and started
again, or standing beside it as a second cluster of the portal.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.kube import REPO_ROOT

UP = REPO_ROOT / "cluster" / "up.sh"
STOP = REPO_ROOT / "cluster" / "stop.sh"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class ControlPlane:
    """cluster/up.sh and stop.sh on a state dir of its own; `nodes` simulated GPU nodes (0: none)."""

    state_dir: Path
    nodes: int = 2
    gpus_per_node: int = 8
    env: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        apiserver, etcd, etcd_peer, controller_manager, scheduler = free_ports(5)
        self.env = {
            **os.environ,
            "CLUSTER_STATE_DIR": str(self.state_dir),
            "CLUSTER_APISERVER_PORT": str(apiserver),
            "CLUSTER_ETCD_PORT": str(etcd),
            "CLUSTER_ETCD_PEER_PORT": str(etcd_peer),
            "CLUSTER_CONTROLLER_MANAGER_PORT": str(controller_manager),
            "CLUSTER_SCHEDULER_PORT": str(scheduler),
            "CLUSTER_NAME": f"gpu-portal-{apiserver}",
            "CLUSTER_SIMULATOR": "1" if self.nodes else "0",
            "CLUSTER_SIM_NODES": str(self.nodes),
            "CLUSTER_SIM_GPUS_PER_NODE": str(self.gpus_per_node),
        }

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def port(self) -> int:
        return int(self.env["CLUSTER_APISERVER_PORT"])

    def up(self, timeout: float = 300) -> None:
        self._run(UP, timeout)

    def stop(self, timeout: float = 120) -> None:
        self._run(STOP, timeout)

    def _run(self, script: Path, timeout: float) -> None:
        result = subprocess.run(
            ["bash", str(script)], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{script.name} failed: {result.stderr[-3000:]}")
