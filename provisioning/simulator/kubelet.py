"""The simulated kubelet: runs the pods the scheduler binds to simulated nodes.

A bound pod turns Running after a short delay; a Job pod turns Succeeded when
its simulated work ends (annotation ``sim.gpu-portal/duration-seconds``, else
``--job-seconds``); other pods run until deleted. A pod with a deletionTimestamp
(deleted or preempted) is removed with grace period 0, as a kubelet confirms
termination; without that a preempted pod would stay Terminating forever.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes import watch
from kubernetes.client import ApiClient, CoreV1Api, V1DeleteOptions, V1Pod
from kubernetes.client.exceptions import ApiException

from .connection import STRATEGIC_MERGE, run_forever
from .events import log_event
from .nodes import node_names
from .options import SimulatorOptions

logger = logging.getLogger(__name__)

DURATION_ANNOTATION = "sim.gpu-portal/duration-seconds"
WATCH_SECONDS = 30


@dataclass(order=True)
class Transition:
    """A pod's next simulated phase change, due at ``due`` (monotonic seconds)."""

    due: float
    phase: str = field(compare=False)
    namespace: str = field(compare=False)
    name: str = field(compare=False)
    uid: str = field(compare=False)


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_ip(node_index: int, uid: str) -> str:
    """A stable fake pod IP in 10.244.<node>.0/24."""
    host = 2 + int(hashlib.sha256(uid.encode()).hexdigest(), 16) % 250
    return f"10.244.{node_index % 256}.{host}"


def is_job_pod(pod: V1Pod) -> bool:
    return any(ref.kind == "Job" for ref in (pod.metadata.owner_references or []))


def work_seconds(pod: V1Pod, default_job_seconds: float) -> float | None:
    """How long the pod's work lasts; None runs it until it is deleted."""
    value = (pod.metadata.annotations or {}).get(DURATION_ANNOTATION)
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            log_event(logger, "pod.bad-annotation", logging.WARNING, pod=pod.metadata.name, value=value)
    return default_job_seconds if is_job_pod(pod) else None


def running_status(pod: V1Pod, ip: str, started: str) -> dict:
    containers = [
        {
            "name": c.name,
            "image": c.image,
            "imageID": f"sim://{c.image}",
            "containerID": f"sim://{pod.metadata.uid}/{c.name}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": started}},
        }
        for c in pod.spec.containers
    ]
    init_containers = [
        {
            "name": c.name,
            "image": c.image,
            "imageID": f"sim://{c.image}",
            "containerID": f"sim://{pod.metadata.uid}/{c.name}",
            "ready": True,
            "restartCount": 0,
            "state": {
                "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}
            },
        }
        for c in (pod.spec.init_containers or [])
    ]
    return {
        "phase": "Running",
        "hostIP": "127.0.0.1",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": started,
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": started}
            for kind in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ],
        "containerStatuses": containers,
        "initContainerStatuses": init_containers,
    }


def succeeded_status(pod: V1Pod) -> dict:
    finished = now()
    started = pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if pod.status.start_time else finished
    return {
        "phase": "Succeeded",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
            {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
        ],
        "containerStatuses": [
            {
                "name": c.name,
                "image": c.image,
                "imageID": f"sim://{c.image}",
                "containerID": f"sim://{pod.metadata.uid}/{c.name}",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {
                    "terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": finished}
                },
            }
            for c in pod.spec.containers
        ],
    }


class Kubelet:
    """Watches pods bound to the simulated nodes and moves them through their phases."""

    def __init__(self, api_client: ApiClient, options: SimulatorOptions, stop: threading.Event) -> None:
        self._core = CoreV1Api(api_client)
        self._options = options
        self._stop = stop
        self._node_index = {name: index for index, name in enumerate(node_names(options))}
        self._queue: list[Transition] = []
        self._planned: dict[str, str] = {}  # pod uid -> phase already planned
        self._wake = threading.Condition()

    # -- watching -----------------------------------------------------------

    def watch_step(self) -> None:
        """Lists bound pods (catching up after a restart), then watches until the timeout."""
        pods = self._core.list_pod_for_all_namespaces(field_selector="spec.nodeName!=")
        seen: set[str] = set()
        for pod in pods.items:
            seen.add(pod.metadata.uid)
            self.observe(pod)
        self.forget_missing(seen)
        stream = watch.Watch()
        try:
            for event in stream.stream(
                self._core.list_pod_for_all_namespaces,
                field_selector="spec.nodeName!=",
                resource_version=pods.metadata.resource_version,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=WATCH_SECONDS + 10,
            ):
                if self._stop.is_set():
                    return
                pod = event["object"]
                if event["type"] == "DELETED":
                    self.forget(pod.metadata.uid)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self.observe(pod)
        except ApiException as error:
            if error.status != 410:  # 410 Gone: resource version too old, relist.
                raise
        finally:
            stream.stop()

    def observe(self, pod: V1Pod) -> None:
        """Decides what a pod on one of our nodes needs next."""
        if pod.spec.node_name not in self._node_index:
            return
        uid = pod.metadata.uid
        if pod.metadata.deletion_timestamp is not None:
            self.confirm_deletion(pod)
            return
        phase = pod.status.phase if pod.status else None
        if phase in ("Succeeded", "Failed"):
            self.forget(uid)
            return
        if phase == "Running":
            seconds = work_seconds(pod, self._options.job_seconds)
            if seconds is not None and self._planned.get(uid) != "Succeeded":
                started = pod.status.start_time.timestamp() if pod.status.start_time else time.time()
                remaining = max(0.0, started + seconds - time.time())
                self.plan(
                    Transition(
                        time.monotonic() + remaining, "Succeeded", pod.metadata.namespace, pod.metadata.name, uid
                    )
                )
            return
        if uid not in self._planned:
            self.plan(
                Transition(
                    time.monotonic() + self._options.start_delay,
                    "Running",
                    pod.metadata.namespace,
                    pod.metadata.name,
                    uid,
                )
            )

    def confirm_deletion(self, pod: V1Pod) -> None:
        self.forget(pod.metadata.uid)
        try:
            self._core.delete_namespaced_pod(
                pod.metadata.name,
                pod.metadata.namespace,
                body=V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": pod.metadata.uid}),
            )
        except ApiException as error:
            if error.status not in (404, 409):
                raise
            return
        log_event(
            logger, "pod.terminated", namespace=pod.metadata.namespace, pod=pod.metadata.name, node=pod.spec.node_name
        )

    # -- the clock ----------------------------------------------------------

    def plan(self, transition: Transition) -> None:
        with self._wake:
            self._planned[transition.uid] = transition.phase
            heapq.heappush(self._queue, transition)
            self._wake.notify()

    def forget(self, uid: str) -> None:
        with self._wake:
            self._planned.pop(uid, None)

    def forget_missing(self, present: set[str]) -> None:
        with self._wake:
            for uid in list(self._planned):
                if uid not in present:
                    del self._planned[uid]

    def clock_step(self) -> None:
        """Applies the transitions that are due; waits for the next one."""
        with self._wake:
            while not self._stop.is_set():
                if self._queue and self._queue[0].due <= time.monotonic():
                    transition = heapq.heappop(self._queue)
                    if self._planned.get(transition.uid) != transition.phase:
                        continue  # deleted or superseded since it was planned
                    break
                timeout = min(1.0, self._queue[0].due - time.monotonic()) if self._queue else 1.0
                self._wake.wait(max(0.01, timeout))
            else:
                return
        try:
            self.apply(transition)
        except Exception:
            # Put it back so that a transient failure does not lose the pod.
            with self._wake:
                transition.due = time.monotonic() + 1.0
                heapq.heappush(self._queue, transition)
            raise

    def apply(self, transition: Transition) -> None:
        try:
            pod = self._core.read_namespaced_pod(transition.name, transition.namespace)
        except ApiException as error:
            if error.status == 404:
                self.forget(transition.uid)
                return
            raise
        if pod.metadata.uid != transition.uid or pod.metadata.deletion_timestamp is not None:
            return
        node = pod.spec.node_name
        if transition.phase == "Running":
            status = running_status(pod, pod_ip(self._node_index.get(node, 0), pod.metadata.uid), now())
        else:
            status = succeeded_status(pod)
        self._core.patch_namespaced_pod_status(
            transition.name, transition.namespace, {"status": status}, _content_type=STRATEGIC_MERGE
        )
        gpus = sum(
            int((c.resources.requests or {}).get("nvidia.com/gpu", 0) if c.resources else 0)
            for c in pod.spec.containers
        )
        log_event(
            logger,
            "pod.running" if transition.phase == "Running" else "pod.succeeded",
            namespace=transition.namespace,
            pod=transition.name,
            node=node,
            gpus=gpus or None,
        )
        if transition.phase == "Running":
            seconds = work_seconds(pod, self._options.job_seconds)
            if seconds is not None:
                self.plan(
                    Transition(
                        time.monotonic() + seconds, "Succeeded", transition.namespace, transition.name, transition.uid
                    )
                )

    def threads(self) -> list[threading.Thread]:
        return [
            threading.Thread(
                target=run_forever,
                args=("kubelet.watch", self._stop, self.watch_step),
                name="kubelet-watch",
                daemon=True,
            ),
            threading.Thread(
                target=run_forever,
                args=("kubelet.clock", self._stop, self.clock_step),
                name="kubelet-clock",
                daemon=True,
            ),
        ]
