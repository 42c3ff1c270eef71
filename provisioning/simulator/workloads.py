"""A seeded, reproducible stream of ML workloads in the portal's namespaces.

Training Jobs, notebook pods and inference Deployments appear in namespaces
labelled ``app.kubernetes.io/managed-by=gpu-portal``, each with the tier's
PriorityClass and GPU requests equal to limits, mostly within the namespace's
quota and sometimes beyond it, so that the API server's ``exceeded quota``
refusal is part of the show. Notebooks and Deployments get a lifetime and
finished Jobs are cleaned up, so the stream never fills the cluster for good.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from kubernetes.client import ApiClient, AppsV1Api, BatchV1Api, CoreV1Api, V1Namespace
from kubernetes.client.exceptions import ApiException

from .connection import api_message, is_transient
from .events import log_event
from .kubelet import DURATION_ANNOTATION
from .options import SimulatorOptions

logger = logging.getLogger(__name__)

MANAGED_SELECTOR = "app.kubernetes.io/managed-by=gpu-portal"
GENERATED_LABEL = "sim.gpu-portal/generated"
EXPIRES_ANNOTATION = "sim.gpu-portal/expires-at"
TIER_PRIORITY_CLASS = {"critical": "ml-critical", "high-priority": "ml-high", "best-effort": "ml-low"}
GPU_CHOICES = (1, 1, 2, 2, 4, 8)
MAX_GENERATED_PER_NAMESPACE = 6
FINISHED_JOB_SECONDS = 120
# One workload in ten asks for more GPUs than the namespace's quota has left.
BEYOND_QUOTA_SHARE = 0.1


def priority_class_for(tier: str | None) -> str | None:
    return TIER_PRIORITY_CLASS.get(tier or "")


def container(name: str, image: str, gpus: int) -> dict:
    """requests == limits for nvidia.com/gpu, as Kubernetes requires for extended resources."""
    cpu = str(max(1, 2 * gpus))
    memory = f"{max(4, 16 * gpus)}Gi"
    return {
        "name": name,
        "image": image,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": str(gpus)},
            "limits": {"cpu": cpu, "memory": memory, "nvidia.com/gpu": str(gpus)},
        },
    }


def pod_spec(name: str, image: str, gpus: int, priority_class: str | None, restart_policy: str) -> dict:
    spec: dict = {"restartPolicy": restart_policy, "containers": [container(name, image, gpus)]}
    if priority_class:
        spec["priorityClassName"] = priority_class
    return spec


class WorkloadGenerator:
    """Creates one workload per tick in a randomly chosen managed namespace."""

    def __init__(self, api_client: ApiClient, options: SimulatorOptions, stop: threading.Event) -> None:
        self._core = CoreV1Api(api_client)
        self._apps = AppsV1Api(api_client)
        self._batch = BatchV1Api(api_client)
        self._options = options
        self._stop = stop
        self._random = random.Random(options.seed)
        self._sequence = 0

    def step(self) -> None:
        """One tick: tidy up, create a workload, wait a seeded interval."""
        self.clean_up()
        namespaces = self.eligible(self._core.list_namespace(label_selector=MANAGED_SELECTOR).items)
        if namespaces:
            namespace = self._random.choice(namespaces)
            self.create_one(namespace.metadata.name, (namespace.metadata.labels or {}).get("gpu-tier"))
        else:
            log_event(logger, "workload.idle", reason="no namespace labelled " + MANAGED_SELECTOR)
        interval = self._options.workload_interval * self._random.uniform(0.5, 1.5)
        self._stop.wait(interval)

    def eligible(self, namespaces: list[V1Namespace]) -> list[V1Namespace]:
        """The active managed namespaces a workload may land in, by name: only those named, when named."""
        chosen = self._options.workload_namespaces
        return sorted(
            (ns for ns in namespaces if ns.status.phase == "Active" and (not chosen or ns.metadata.name in chosen)),
            key=lambda ns: ns.metadata.name,
        )

    def free_guaranteed_gpus(self, namespace: str) -> int | None:
        """What is left of the namespace's requests.nvidia.com/gpu quota (None: no quota)."""
        free: int | None = None
        for quota in self._core.list_namespaced_resource_quota(namespace).items:
            hard = (quota.status.hard if quota.status else None) or {}
            used = (quota.status.used if quota.status else None) or {}
            if "requests.nvidia.com/gpu" in hard:
                left = int(hard["requests.nvidia.com/gpu"]) - int(used.get("requests.nvidia.com/gpu", "0"))
                free = left if free is None else min(free, left)
        return free

    def create_one(self, namespace: str, tier: str | None) -> None:
        generated = [
            pod
            for pod in self._core.list_namespaced_pod(namespace, label_selector=f"{GENERATED_LABEL}=true").items
            if pod.status.phase not in ("Succeeded", "Failed")
        ]
        # Draw the same numbers whatever happens, so the stream stays reproducible.
        kind = self._random.choices(("training", "notebook", "inference"), weights=(5, 3, 2))[0]
        gpus = self._random.choice(GPU_CHOICES)
        beyond_quota = self._random.random() < BEYOND_QUOTA_SHARE
        duration = self._random.randint(60, 600)
        lifetime = self._random.randint(300, 1200)
        replicas = self._random.randint(1, 3)
        self._sequence += 1
        if len(generated) >= MAX_GENERATED_PER_NAMESPACE and not beyond_quota:
            log_event(logger, "workload.skipped", namespace=namespace, reason="enough running")
            return
        priority_class = priority_class_for(tier)
        if beyond_quota:
            free = self.free_guaranteed_gpus(namespace)
            if free is not None:
                # A bare pod, so the API server's refusal reaches us directly.
                gpus, kind = max(free, 0) + gpus, "notebook"
        name = f"{kind}-{self._options.seed}-{self._sequence}"
        labels = {GENERATED_LABEL: "true", "app.kubernetes.io/name": kind, "app.kubernetes.io/instance": name}
        expires = {EXPIRES_ANNOTATION: str(int(time.time()) + lifetime)}
        try:
            if kind == "training":
                self._batch.create_namespaced_job(
                    namespace,
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "metadata": {"name": name, "labels": labels},
                        "spec": {
                            "backoffLimit": 0,
                            "template": {
                                "metadata": {"labels": labels, "annotations": {DURATION_ANNOTATION: str(duration)}},
                                "spec": pod_spec("trainer", "pytorch/pytorch:latest", gpus, priority_class, "Never"),
                            },
                        },
                    },
                )
            elif kind == "notebook":
                self._core.create_namespaced_pod(
                    namespace,
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": name, "labels": labels, "annotations": expires},
                        "spec": pod_spec("notebook", "jupyter/pytorch-notebook:latest", gpus, priority_class, "Always"),
                    },
                )
            else:
                self._apps.create_namespaced_deployment(
                    namespace,
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": name, "labels": labels, "annotations": expires},
                        "spec": {
                            "replicas": replicas,
                            "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                            "template": {
                                "metadata": {"labels": labels},
                                "spec": pod_spec(
                                    "server", "nvcr.io/nvidia/tritonserver:latest", 1, priority_class, "Always"
                                ),
                            },
                        },
                    },
                )
                gpus = replicas
        except ApiException as error:
            if is_transient(error):
                raise
            message = api_message(error)
            event = "workload.refused.quota" if "exceeded quota" in message else "workload.refused"
            log_event(
                logger,
                event,
                logging.WARNING,
                namespace=namespace,
                kind=kind,
                name=name,
                gpus=gpus,
                status=error.status,
                message=repr(message),
            )
            return
        log_event(
            logger,
            "workload.created",
            namespace=namespace,
            kind=kind,
            name=name,
            gpus=gpus,
            priority_class=priority_class,
        )

    def clean_up(self) -> None:
        """Deletes expired notebooks and Deployments and long-finished Jobs we generated."""
        selector = f"{GENERATED_LABEL}=true"
        now = time.time()

        def expired(meta) -> bool:
            value = (meta.annotations or {}).get(EXPIRES_ANNOTATION)
            return value is not None and value.isdigit() and int(value) <= now

        def delete(what: str, call, meta) -> None:
            try:
                call(meta.name, meta.namespace, propagation_policy="Background")
            except ApiException as error:
                if error.status != 404:
                    raise
                return
            log_event(logger, "workload.finished", namespace=meta.namespace, kind=what, name=meta.name)

        for pod in self._core.list_pod_for_all_namespaces(label_selector=selector).items:
            if not pod.metadata.owner_references and expired(pod.metadata):
                delete("notebook", self._core.delete_namespaced_pod, pod.metadata)
        for deployment in self._apps.list_deployment_for_all_namespaces(label_selector=selector).items:
            if expired(deployment.metadata):
                delete("inference", self._apps.delete_namespaced_deployment, deployment.metadata)
        for job in self._batch.list_job_for_all_namespaces(label_selector=selector).items:
            finished = job.status.completion_time if job.status else None
            failed = bool(job.status and job.status.failed)
            age = now - job.metadata.creation_timestamp.timestamp()
            if (finished and now - finished.timestamp() > FINISHED_JOB_SECONDS) or (failed and age > 600):
                delete("training", self._batch.delete_namespaced_job, job.metadata)
