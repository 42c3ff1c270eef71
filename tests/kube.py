"""Helpers for tests against the real API server: pod manifests, bounded waits, its messages."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from kubernetes.client import CoreV1Api, V1Pod
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

GPU = "nvidia.com/gpu"
REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_KUBECONFIG = REPO_ROOT / ".cluster" / "kubeconfig"
K8S_VERSION = "v1.20.2"
ADMIN_CONTEXT = "gpu-portal-admin"
WORKER_CONTEXT = "gpu-portal-worker"


def local_kubectl() -> Path:
    """The kubectl built with the local cluster (same version as the server), or $KUBECTL."""
    cache = Path(os.environ.get("GPU_PORTAL_CACHE") or Path.home() / ".cache" / "gpu-portal")
    return Path(os.environ.get("KUBECTL") or cache / f"kubernetes-{K8S_VERSION}" / "bin" / "kubectl")


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.5) -> T:
    """Polls ``condition`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T = condition()
    while not last:
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = condition()
    return last


def api_message(error: ApiException) -> str:
    """The message of the Status the API server answered with."""
    return json.loads(error.body)["message"]


def pod_manifest(
    name: str,
    *,
    gpus: int | None = None,
    priority_class: str | None = None,
    node: str | None = None,
    cpu: str | None = None,
    memory: str | None = None,
) -> dict:
    """A pod whose container asks for ``gpus`` (requests == limits) or nothing at all."""
    container: dict = {"name": "main", "image": "busybox:1.36", "command": ["sleep", "infinity"]}
    limits: dict[str, str] = {}
    if gpus is not None:
        limits[GPU] = str(gpus)
    if cpu is not None:
        limits["cpu"] = cpu
    if memory is not None:
        limits["memory"] = memory
    if limits:
        container["resources"] = {"limits": limits, "requests": dict(limits)}
    spec: dict = {"containers": [container], "terminationGracePeriodSeconds": 30}
    if priority_class:
        spec["priorityClassName"] = priority_class
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def wait_running(core: CoreV1Api, namespace: str, name: str, timeout: float = 60) -> V1Pod:
    """Waits until the simulated kubelet reports the pod Running."""

    def running() -> V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase == "Running" else None

    return wait_until(running, timeout=timeout, what=f"pod {namespace}/{name} to run")


def wait_quota_synced(core: CoreV1Api, namespace: str, name: str, timeout: float = 60) -> None:
    """Until the quota controller has filled status.hard, admission refuses what the quota covers."""

    def synced() -> bool:
        quota = core.read_namespaced_resource_quota(name, namespace)
        return bool(quota.status and quota.status.hard == quota.spec.hard and quota.status.used is not None)

    wait_until(synced, timeout=timeout, what=f"quota {namespace}/{name} to be synced")


def quota_used(core: CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    quota = core.read_namespaced_resource_quota(name, namespace)
    return dict((quota.status.used if quota.status else None) or {})


def gone_or_terminating(core: CoreV1Api, namespace: str, name: str) -> bool:
    try:
        pod = core.read_namespaced_pod(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return pod.metadata.deletion_timestamp is not None


def service_account_ready(core: CoreV1Api, namespace: str) -> bool:
    """Pods are refused (500 "No API token found") until the controller manager has made
    the namespace's default ServiceAccount and its token secret."""
    try:
        account = core.read_namespaced_service_account("default", namespace)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return bool(account.secrets)


def wait_pods_allowed(core: CoreV1Api, namespace: str, timeout: float = 60) -> None:
    wait_until(
        lambda: service_account_ready(core, namespace),
        timeout=timeout,
        what=f"the default ServiceAccount of {namespace} and its token",
    )


def wait_quota_settled(core: CoreV1Api, namespace: str, name: str, quiet: float = 3.0, timeout: float = 60) -> str:
    """Until the quota controller has stopped updating the quota's status; returns its resourceVersion.

    A new namespace's default ServiceAccount token and root CA ConfigMap arrive after the
    quota does, and each moves `status.used` (hence the resourceVersion) once more.
    """
    wait_quota_synced(core, namespace, name, timeout=timeout)
    wait_pods_allowed(core, namespace, timeout=timeout)
    deadline = time.monotonic() + timeout
    version = core.read_namespaced_resource_quota(name, namespace).metadata.resource_version
    while time.monotonic() < deadline:
        time.sleep(quiet)
        latest = core.read_namespaced_resource_quota(name, namespace).metadata.resource_version
        if latest == version:
            return version
        version = latest
    raise AssertionError(f"quota {namespace}/{name} kept changing for {timeout:.0f} s")
