"""Command-line options shared by ``python -m provisioning.simulator`` and
``manage.py simulate_cluster``, so both accept exactly the same flags."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_KUBECONFIG = Path(".cluster") / "kubeconfig"


@dataclass(frozen=True)
class SimulatorOptions:
    """What to simulate and where; built from parsed arguments."""

    kubeconfig: str | None
    context: str | None
    nodes: int
    gpus_per_node: int
    gpu_product: str
    node_prefix: str
    #: One more node per entry, numbered after the whole-GPU nodes: extended resource -> units it advertises.
    partitioned_nodes: tuple[tuple[tuple[str, int], ...], ...]
    start_delay: float
    job_seconds: float
    workloads: bool
    workloads_only: bool
    workload_interval: float
    workload_namespaces: frozenset[str]
    seed: int
    heartbeat_seconds: float
    log_level: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declares the simulator's flags on an argparse (or Django) parser."""
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ./.cluster/kubeconfig)")
    parser.add_argument("--context", help="kubeconfig context (default: its current-context)")
    parser.add_argument("--nodes", type=int, default=8, help="number of simulated GPU nodes (default 8)")
    parser.add_argument("--gpus-per-node", type=int, default=8, help="nvidia.com/gpu per node (default 8)")
    parser.add_argument("--gpu-product", default="NVIDIA-A100-SXM4-80GB", help="nvidia.com/gpu.product label")
    parser.add_argument("--node-prefix", default="gpu-node-", help="node names are PREFIX0..PREFIX{N-1}")
    parser.add_argument(
        "--partitioned-node",
        action="append",
        default=[],
        dest="partitioned_nodes",
        metavar="RESOURCE=COUNT[,RESOURCE=COUNT...]",
        help="one more node whose GPUs are partitioned: it advertises these extended resources instead of "
        "nvidia.com/gpu, e.g. nvidia.com/mig-1g.10gb=28,nvidia.com/mig-3g.40gb=4 (MIG) or "
        "nvidia.com/gpu.shared=32 (time-slicing); repeatable, numbered after the --nodes whole-GPU nodes",
    )
    parser.add_argument("--start-delay", type=float, default=1.0, help="seconds before a bound pod runs")
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=300.0,
        help="run time of a Job pod without a sim.gpu-portal/duration-seconds annotation",
    )
    parser.add_argument(
        "--workloads",
        action="store_true",
        help="also generate training Jobs, notebooks and inference Deployments in portal-managed namespaces",
    )
    parser.add_argument(
        "--workloads-only",
        action="store_true",
        help="only generate workloads, beside a simulator that already plays the nodes (the demo's)",
    )
    parser.add_argument("--workload-interval", type=float, default=15.0, help="mean seconds between workloads")
    parser.add_argument(
        "--workload-namespace",
        action="append",
        default=[],
        dest="workload_namespaces",
        help="generate workloads only in this managed namespace (repeatable; default: every managed one), "
        "so that a demo leaves namespaces others share the cluster with alone",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the workload stream (reproducible)")
    parser.add_argument("--heartbeat-seconds", type=float, default=20.0, help="node status heartbeat period")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def options_from(values: dict[str, object]) -> SimulatorOptions:
    """Builds options from parsed values (argparse namespace vars or Django's options)."""
    kubeconfig = values.get("kubeconfig") or os.environ.get("KUBECONFIG")
    if not kubeconfig and DEFAULT_STATE_KUBECONFIG.is_file():
        kubeconfig = str(DEFAULT_STATE_KUBECONFIG.resolve())
    options = SimulatorOptions(
        kubeconfig=str(kubeconfig) if kubeconfig else None,
        context=values.get("context") or None,  # type: ignore[arg-type]
        nodes=int(values["nodes"]),  # type: ignore[arg-type]
        gpus_per_node=int(values["gpus_per_node"]),  # type: ignore[arg-type]
        gpu_product=str(values["gpu_product"]),
        node_prefix=str(values["node_prefix"]),
        partitioned_nodes=tuple(parse_partitioned_node(str(spec)) for spec in values.get("partitioned_nodes") or ()),
        start_delay=float(values["start_delay"]),  # type: ignore[arg-type]
        job_seconds=float(values["job_seconds"]),  # type: ignore[arg-type]
        workloads=bool(values["workloads"]) or bool(values.get("workloads_only")),
        workloads_only=bool(values.get("workloads_only")),
        workload_interval=float(values["workload_interval"]),  # type: ignore[arg-type]
        workload_namespaces=frozenset(values.get("workload_namespaces") or ()),  # type: ignore[arg-type]
        seed=int(values["seed"]),  # type: ignore[arg-type]
        heartbeat_seconds=float(values["heartbeat_seconds"]),  # type: ignore[arg-type]
        log_level=str(values["log_level"]),
    )
    if options.nodes < 0 or options.gpus_per_node < 0:
        raise ValueError("--nodes and --gpus-per-node must not be negative")
    return options


def parse_partitioned_node(spec: str) -> tuple[tuple[str, int], ...]:
    """`nvidia.com/mig-1g.10gb=28,nvidia.com/mig-3g.40gb=4` -> ((name, 28), (name, 4)); refuse anything else."""
    resources = []
    for part in spec.split(","):
        name, _, count = part.strip().partition("=")
        if "/" not in name or not count.isdigit():
            raise ValueError(f"--partitioned-node {spec!r}: expected RESOURCE=COUNT, e.g. nvidia.com/gpu.shared=32")
        resources.append((name, int(count)))
    return tuple(resources)
