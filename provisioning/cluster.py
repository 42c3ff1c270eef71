"""The cluster gateway: the only module that imports the kubernetes client.

It applies objects with server-side apply under one field manager, refuses to touch
namespaces the portal does not own, reads quota usage across all namespaces in one
paginated LIST, and turns every failure into one of three kinds the tasks act on:
transient (retry with backoff), conflict (another manager owns a field: show the
admin) and permanent (record the API server's message, do not retry).
"""

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import urllib3
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from provisioning.manifests import MANAGED_SELECTOR
from provisioning.models import Cluster
from teams.constants import GPU_RESOURCE, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from teams.policy import is_reserved_namespace
from teams.quantities import parse_quantity

logger = logging.getLogger(__name__)

FIELD_MANAGER = "gpu-portal"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
#: Big enough that a sync takes one page per LIST up to about 18,000 namespaces (25,000 quotas at
#: the seed's 1.33 per namespace), and 3 calls up to 25,000; small enough that a page stays about
#: 40 MB of JSON at any scale. Pages of 10,000 took 4 calls at 10,000 namespaces (tests/bench).
LIST_PAGE_SIZE = 25_000
#: (connect, read) seconds: a stalled API server must fail the call, not hang the worker.
TIMEOUT = (5, 30)


class ClusterError(Exception):
    """A call the cluster did not carry out; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(ClusterError):
    """Worth retrying: the API server is unreachable, overloaded or failing (timeouts, 429, 5xx)."""


class ConflictError(ClusterError):
    """Server-side apply found fields owned by another field manager."""

    def __init__(self, message: str, *, status: int | None = 409, managers: list[str] | None = None) -> None:
        super().__init__(message, status=status)
        self.managers = managers or []


class PermanentError(ClusterError):
    """The API server refused the request itself (4xx); retrying cannot help."""


class OwnershipError(PermanentError):
    """The namespace exists but is not the portal's to change."""


@dataclass(frozen=True)
class AppliedObject:
    kind: str
    namespace: str
    name: str
    resource_version: str


@dataclass(frozen=True)
class QuotaReading:
    namespace: str
    name: str
    hard: dict[str, str]
    #: None while the quota controller has not reported usage yet: unknown, not zero.
    used: dict[str, str] | None
    #: Moves whenever anything in the quota does, its status included.
    resource_version: str = ""


@dataclass(frozen=True)
class RefusalEvent:
    """One FailedCreate Event whose pod the quota admission refused; repeats grow `count`."""

    uid: str
    namespace: str
    object_kind: str
    object_name: str
    object_uid: str
    message: str
    count: int
    first_seen: str
    last_seen: str


@dataclass(frozen=True)
class Capacity:
    gpus: Decimal
    ready_nodes: int


def _kind_methods(api: client.ApiClient) -> dict[str, tuple]:
    """kind -> (patch, delete, list, namespaced) on the typed clients."""
    core, rbac, scheduling = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api), client.SchedulingV1Api(api)
    return {
        "Namespace": (core.patch_namespace, core.delete_namespace, None, False),
        "ResourceQuota": (
            core.patch_namespaced_resource_quota,
            core.delete_namespaced_resource_quota,
            core.list_namespaced_resource_quota,
            True,
        ),
        "LimitRange": (
            core.patch_namespaced_limit_range,
            core.delete_namespaced_limit_range,
            core.list_namespaced_limit_range,
            True,
        ),
        "RoleBinding": (
            rbac.patch_namespaced_role_binding,
            rbac.delete_namespaced_role_binding,
            rbac.list_namespaced_role_binding,
            True,
        ),
        "PriorityClass": (scheduling.patch_priority_class, None, None, False),
    }


#: Kinds the portal owns inside a namespace; managed ones that are no longer desired are removed.
PRUNED_KINDS = ("ResourceQuota", "LimitRange", "RoleBinding")


class ClusterGateway:
    """One connection to one cluster, as the identity its kubeconfig context names (or the pod's ServiceAccount)."""

    def __init__(self, cluster: Cluster, *, page_size: int = LIST_PAGE_SIZE) -> None:
        self.cluster = cluster
        self.page_size = page_size
        #: Requests sent to the API server through this gateway, for benchmarks and logs.
        self.api_calls = 0
        self.api = _connect(cluster)
        self.core = client.CoreV1Api(self.api)
        self.methods = _kind_methods(self.api)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> "ClusterGateway":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # Writing.

    def apply(self, objects: list[dict], *, dry_run: bool = False, force: bool = False) -> list[AppliedObject]:
        """Server-side apply each object as field manager `gpu-portal`.

        `force` takes over fields another manager owns; only an admin's explicit
        reconcile asks for it, never a request.
        """
        applied = []
        for manifest in objects:
            kind, metadata = manifest["kind"], manifest["metadata"]
            patch, _, _, namespaced = self.methods[kind]
            arguments = (metadata["name"], metadata["namespace"]) if namespaced else (metadata["name"],)
            result = self._call(
                patch,
                *arguments,
                manifest,
                field_manager=FIELD_MANAGER,
                force=force or None,
                dry_run="All" if dry_run else None,
                _content_type=APPLY_CONTENT_TYPE,
            )
            applied.append(
                AppliedObject(kind, metadata.get("namespace", ""), metadata["name"], result.metadata.resource_version)
            )
        logger.info(
            "cluster.applied", extra={"cluster": self.cluster.name, "objects": len(applied), "dry_run": dry_run}
        )
        return applied

    def apply_namespace(
        self,
        name: str,
        objects: list[dict],
        *,
        allow_unmanaged: bool = False,
        dry_run: bool = False,
        force: bool = False,
    ) -> list[AppliedObject]:
        """Apply a namespace's objects, then remove the portal's objects there that are no longer desired."""
        existed = self.check_ownership(name, allow_unmanaged=allow_unmanaged)
        applied = self.apply(objects, dry_run=dry_run, force=force)
        if existed and not dry_run:  # a namespace created just now holds nothing to prune
            self.prune(name, {(o["kind"], o["metadata"]["name"]) for o in objects})
        return applied

    def prune(self, namespace: str, desired: set[tuple[str, str]]) -> list[tuple[str, str]]:
        removed = []
        for kind in PRUNED_KINDS:
            _, delete, list_namespaced, _ = self.methods[kind]
            existing = self._call(list_namespaced, namespace, label_selector=MANAGED_SELECTOR)
            for item in existing.items:
                if (kind, item.metadata.name) not in desired:
                    self._call(delete, item.metadata.name, namespace)
                    removed.append((kind, item.metadata.name))
        if removed:
            logger.info("cluster.pruned", extra={"namespace": namespace, "objects": removed})
        return removed

    def delete_namespace(self, name: str, *, force: bool = False) -> None:
        """Delete a namespace the portal manages; with pods still active, only when forced."""
        self.check_ownership(name, allow_unmanaged=False)
        active = self.count_active_pods(name)
        if active and not force:
            raise PermanentError(
                f"{active} pod(s) are still running or pending in {name}; the namespace was left in place. "
                "Stop them, or ask for the deletion again with force."
            )
        try:
            self._call(self.core.delete_namespace, name)
        except PermanentError as error:
            if error.status != 404:
                raise

    def check_ownership(self, name: str, *, allow_unmanaged: bool) -> bool:
        """Refuse reserved namespaces always, and unlabelled existing ones unless adopted.

        Returns whether the namespace exists.
        """
        if is_reserved_namespace(name):
            raise OwnershipError(f"{name} is reserved for the cluster itself; the portal never changes it.")
        labels = self.namespace_labels(name)
        if labels is None:
            return False
        if allow_unmanaged or labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE:
            return True
        raise OwnershipError(
            f"Namespace {name} already exists on cluster {self.cluster.name} and is not managed by the portal "
            f"(no {MANAGED_BY_LABEL}={MANAGED_BY_VALUE} label), so the portal left it untouched. An admin can "
            f"adopt it with `python manage.py adopt_namespace {name} --team <team>`."
        )

    # Reading.

    def namespace_labels(self, name: str) -> dict[str, str] | None:
        """The namespace's labels, or None when it does not exist."""
        try:
            namespace = self._call(self.core.read_namespace, name)
        except PermanentError as error:
            if error.status == 404:
                return None
            raise
        return namespace.metadata.labels or {}

    def read_namespace_state(self, name: str) -> dict:
        """Labels, quotas and LimitRanges of one namespace, as plain dicts (for adoption)."""
        quotas = self._call(self.core.list_namespaced_resource_quota, name, _preload_content=False)
        limit_ranges = self._call(self.core.list_namespaced_limit_range, name, _preload_content=False)
        return {
            "labels": self.namespace_labels(name),
            "quotas": json.loads(quotas.data)["items"],
            "limitRanges": json.loads(limit_ranges.data)["items"],
        }

    def count_active_pods(self, namespace: str) -> int:
        pods = self._call(self.core.list_namespaced_pod, namespace)
        return sum(
            1
            for pod in pods.items
            if pod.status.phase in ("Pending", "Running") and pod.metadata.deletion_timestamp is None
        )

    def list_quota_usage(self) -> list[QuotaReading]:
        """Every managed ResourceQuota in the cluster, in one paginated LIST.

        Read as raw JSON: at 10,000 quotas the typed client's deserialisation costs
        twice the fetch itself.
        """
        readings = []
        for item in self._list_raw(self.core.list_resource_quota_for_all_namespaces):
            status = item.get("status") or {}
            readings.append(
                QuotaReading(
                    namespace=item["metadata"]["namespace"],
                    name=item["metadata"]["name"],
                    hard=item["spec"].get("hard") or {},
                    used=status.get("used") if "hard" in status else None,
                    resource_version=item["metadata"].get("resourceVersion", ""),
                )
            )
        return readings

    def list_managed_namespaces(self) -> dict[str, dict]:
        """name -> {labels, phase, resource_version} of every namespace carrying the ownership label."""
        return {
            item["metadata"]["name"]: {
                "labels": item["metadata"].get("labels") or {},
                "phase": (item.get("status") or {}).get("phase", ""),
                "resource_version": item["metadata"].get("resourceVersion", ""),
            }
            for item in self._list_raw(self.core.list_namespace)
        }

    def list_quota_refusals(self) -> list[RefusalEvent]:
        """Every FailedCreate Event saying "exceeded quota", in one paginated LIST across namespaces.

        The API server filters by reason (a field selector); the message is matched here, since
        events have no field for it.
        """
        refusals = []
        for item in self._list_raw(
            self.core.list_event_for_all_namespaces, selector=None, field_selector="reason=FailedCreate"
        ):
            message = item.get("message") or ""
            if "exceeded quota" not in message:
                continue
            involved = item.get("involvedObject") or {}
            first = item.get("firstTimestamp") or item.get("eventTime") or item["metadata"].get("creationTimestamp")
            refusals.append(
                RefusalEvent(
                    uid=item["metadata"]["uid"],
                    namespace=item["metadata"]["namespace"],
                    object_kind=involved.get("kind", ""),
                    object_name=involved.get("name", ""),
                    object_uid=involved.get("uid") or f"{involved.get('kind')}/{involved.get('name')}",
                    message=message,
                    count=item.get("count") or 1,
                    first_seen=first,
                    last_seen=item.get("lastTimestamp") or first,
                )
            )
        return refusals

    def node_gpu_capacity(self, weights: Mapping[str, Decimal] | None = None) -> Capacity:
        """Allocatable GPU-equivalents summed over Ready, schedulable nodes.

        `weights` (the tier catalog's, resource -> GPU-equivalents per unit) says which
        extended resources are GPUs or shares of one: MIG slices and time-sliced GPUs count
        by their weight. Without it, `nvidia.com/gpu` alone counts.
        """
        weights = weights or {GPU_RESOURCE: Decimal(1)}
        gpus = Decimal(0)
        ready = 0
        for node in self._list_raw(self.core.list_node, selector=None):
            conditions = (node.get("status") or {}).get("conditions") or []
            is_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
            if not is_ready or (node.get("spec") or {}).get("unschedulable"):
                continue
            ready += 1
            allocatable = (node.get("status") or {}).get("allocatable") or {}
            for resource, weight in weights.items():
                if resource in allocatable:
                    gpus += parse_quantity(allocatable[resource]).as_int_ceiling() * weight
        return Capacity(gpus=gpus, ready_nodes=ready)

    def check_reachable(self, timeout: float) -> str:
        """The API server's version, within `timeout` seconds to connect and as many to answer.

        `/version` is open to every identity (system:public-info-viewer), so this proves the
        server answers without needing any permission of the worker's.
        """
        info = self._call(client.VersionApi(self.api).get_code, _request_timeout=(timeout, timeout))
        return info.git_version

    def _list_raw(
        self, method, selector: str | None = MANAGED_SELECTOR, field_selector: str | None = None
    ) -> Iterator[dict]:
        token = None
        while True:
            response = self._call(
                method,
                label_selector=selector,
                field_selector=field_selector,
                limit=self.page_size,
                _continue=token,
                _preload_content=False,
            )
            page = json.loads(response.data)
            yield from page.get("items") or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def _call(self, method, *args, **kwargs):
        self.api_calls += 1
        return _call(method, *args, **kwargs)


def uses_pod_service_account(cluster: Cluster) -> bool:
    """In-cluster config when the cluster asks for it, or when it names no kubeconfig and the portal runs in a pod.

    The second case is the default cluster of an installation from deploy/ (settings.KUBECONFIG is empty in a
    pod); a cluster with a kubeconfig keeps using it in a pod too, to reach a cluster other than its own.
    """
    return cluster.in_cluster or (not cluster.kubeconfig_path and settings.KUBE_IN_POD)


def _connect(cluster: Cluster) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        if uses_pod_service_account(cluster):
            # The loader load_incluster_config uses, with the token and CA where settings say the kubelet put them.
            account = Path(settings.KUBE_SERVICE_ACCOUNT_DIR)
            InClusterConfigLoader(
                token_filename=str(account / "token"), cert_filename=str(account / "ca.crt")
            ).load_and_set(configuration)
        else:
            config.load_kube_config(
                config_file=cluster.kubeconfig_path or None,
                context=cluster.context or None,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError) as error:
        raise PermanentError(f"Cannot load the connection of cluster {cluster.name}: {error}") from error
    # Retries belong to the Celery task (bounded, with backoff), not to urllib3 inside one call.
    configuration.retries = False
    return client.ApiClient(configuration)


_CONFLICT_MANAGER = re.compile(r'conflicts? with "([^"]+)"')


def _call(method, *args, **kwargs):
    """Call the API, mapping every failure to a ClusterError kind carrying the server's message."""
    kwargs = {key: value for key, value in kwargs.items() if value is not None}
    kwargs.setdefault("_request_timeout", TIMEOUT)
    try:
        return method(*args, **kwargs)
    except ApiException as error:
        message = _server_message(error)
        if error.status == 409:
            raise ConflictError(message, managers=sorted(set(_CONFLICT_MANAGER.findall(message)))) from None
        if error.status == 429 or (error.status or 0) >= 500:
            raise TransientError(message, status=error.status) from None
        raise PermanentError(message, status=error.status) from None
    except (urllib3.exceptions.HTTPError, OSError) as error:
        raise TransientError(f"The API server did not answer: {error}") from None


def _server_message(error: ApiException) -> str:
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"
