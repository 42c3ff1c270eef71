"""A throwaway control plane for tests: never the shared cluster on port 6443.

For what the shared cluster must never be put through: being stopped and started again, or
standing beside it as a second cluster of the portal. It shares the shared cluster's built
binaries but has a state dir of its own and ports of its own (cluster/lib.sh reads both from
the environment); without simulated nodes it starts in seconds. cluster/up.sh and
cluster/stop.sh start and stop it exactly as an operator would.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.kube import REPO_ROOT

UP = REPO_ROOT / "cluster" / "up.sh"
STOP = REPO_ROOT / "cluster" / "stop.sh"


def free_ports(count: int) -> list[int]:
    """Ports free now, all different: whoever binds them next gets them."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_script(script: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{script.name} failed: {result.stderr[-3000:]}"
    return result


@dataclass
class ControlPlane:
    """etcd, kube-apiserver, controller-manager and scheduler under `state_dir`, on ports of their own."""

    state_dir: Path
    apiserver_port: int
    environment: dict[str, str]

    @classmethod
    def in_directory(cls, state_dir: Path, *, nodes: int = 0, gpus_per_node: int = 8) -> ControlPlane:
        """A plane under `state_dir` with `nodes` simulated nodes of whole GPUs (0: none, the fastest start)."""
        apiserver, etcd, etcd_peer, controller_manager, scheduler = free_ports(5)
        environment = {
            **os.environ,
            "CLUSTER_STATE_DIR": str(state_dir),
            "CLUSTER_APISERVER_PORT": str(apiserver),
            "CLUSTER_ETCD_PORT": str(etcd),
            "CLUSTER_ETCD_PEER_PORT": str(etcd_peer),
            "CLUSTER_CONTROLLER_MANAGER_PORT": str(controller_manager),
            "CLUSTER_SCHEDULER_PORT": str(scheduler),
            "CLUSTER_NAME": f"gpu-portal-{apiserver}",
            "CLUSTER_SIMULATOR": "1" if nodes else "0",
            "CLUSTER_SIM_NODES": str(nodes),
            "CLUSTER_SIM_GPUS_PER_NODE": str(gpus_per_node),
            "CLUSTER_SIM_PARTITIONED": "",  # no MIG or time-sliced node: capacity is nodes x GPUs
        }
        return cls(state_dir, apiserver, environment)

    @property
    def kubeconfig(self) -> Path:
        """Contexts gpu-portal-admin and gpu-portal-worker, as for the shared cluster."""
        return self.state_dir / "kubeconfig"

    def up(self, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """cluster/up.sh: starts what is not running, keeps what is; the same certificates and tokens each time."""
        return run_script(UP, self.environment, timeout)

    def stop(self, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """cluster/stop.sh: every component, etcd last."""
        return run_script(STOP, self.environment, timeout)

    def tear_down(self) -> None:
        """Whatever is left running, stopped; a failing stop must not hide the test's own failure."""
        subprocess.run(["bash", str(STOP)], env=self.environment, capture_output=True, timeout=120)

    def pids(self) -> dict[str, int]:
        return {path.stem: int(path.read_text()) for path in sorted((self.state_dir / "run").glob("*.pid"))}
