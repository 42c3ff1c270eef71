"""Starts the simulator's loops in threads and stops them cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time

from .connection import new_api_client, run_forever
from .events import log_event
from .kubelet import Kubelet
from .nodes import NodeKeeper
from .options import SimulatorOptions
from .workloads import WorkloadGenerator

logger = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%S")
    # The client logs every retry of urllib3 at WARNING; our own lines say it once.
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def run(options: SimulatorOptions, stop: threading.Event | None = None) -> int:
    """Runs until ``stop`` is set (by SIGTERM or SIGINT when run in the main thread)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    log_event(
        logger,
        "simulator.started",
        kubeconfig=options.kubeconfig or "default",
        context=options.context or "current",
        nodes=options.nodes,
        gpus_per_node=options.gpus_per_node,
        workloads=options.workloads,
        seed=options.seed if options.workloads else None,
    )
    threads: list[threading.Thread] = []
    if not options.workloads_only:
        nodes = NodeKeeper(new_api_client(options), options, stop)
        kubelet = Kubelet(new_api_client(options), options, stop)
        threads.append(
            threading.Thread(target=run_forever, args=("nodes", stop, nodes.step), name="nodes", daemon=True)
        )
        threads += kubelet.threads()
    if options.workloads:
        generator = WorkloadGenerator(new_api_client(options), options, stop)
        threads.append(
            threading.Thread(
                target=run_forever, args=("workloads", stop, generator.step), name="workloads", daemon=True
            )
        )
    for thread in threads:
        thread.start()
    while not stop.wait(1.0):
        pass
    # A thread blocked in a watch would hold the exit for its timeout: give them
    # all 3 s together, then leave (they are daemons).
    deadline = time.monotonic() + 3.0
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    log_event(logger, "simulator.stopped")
    return 0
