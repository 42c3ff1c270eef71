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
from typing import Generic, TypeVar

import msgspec
import urllib3
import yaml
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from provisioning import credentials
from provisioning.manifests import MANAGED_SELECTOR
from provisioning.models import ClusterConnection
from teams.constants import GPU_RESOURCE, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from teams.models import Cluster
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


# The fields of LIST answers the gateway reads. Decoding into these skips everything else in
# the JSON (managedFields, annotations, ...) without building it: at 2,000 namespaces about a
# tenth of the time `json.loads` takes for the whole answer (tests/bench/bench_sync.py).

Item = TypeVar("Item")


class _ListMeta(msgspec.Struct):
    continue_token: str = msgspec.field(default="", name="continue")


class _Page(msgspec.Struct, Generic[Item]):
    items: list[Item] | None = None
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)


class _ObjectMeta(msgspec.Struct, rename="camel"):
    name: str
    namespace: str = ""
    resource_version: str = ""
    labels: dict[str, str] = {}


class _QuotaSpec(msgspec.Struct):
    hard: dict[str, str] = {}


class _QuotaStatus(msgspec.Struct):
    #: Absent until the quota controller has looked at the quota.
    hard: dict[str, str] | None = None
    used: dict[str, str] | None = None


class _Quota(msgspec.Struct):
    metadata: _ObjectMeta
    spec: _QuotaSpec = msgspec.field(default_factory=_QuotaSpec)
    status: _QuotaStatus = msgspec.field(default_factory=_QuotaStatus)


class _NamespaceStatus(msgspec.Struct):
    phase: str = ""


class _Namespace(msgspec.Struct):
    metadata: _ObjectMeta
    status: _NamespaceStatus = msgspec.field(default_factory=_NamespaceStatus)


QUOTA_PAGE = msgspec.json.Decoder(_Page[_Quota])
NAMESPACE_PAGE = msgspec.json.Decoder(_Page[_Namespace])
_DICT_PAGE = msgspec.json.Decoder(_Page[dict])


def quota_reading(item: _Quota) -> QuotaReading:
    return QuotaReading(
        namespace=item.metadata.namespace,
        name=item.metadata.name,
        hard=item.spec.hard,
        used=item.status.used if item.status.hard is not None else None,
        resource_version=item.metadata.resource_version,
    )


def namespace_state(item: _Namespace) -> dict:
    """{labels, phase, resource_version} of one Namespace."""
    return {
        "labels": item.metadata.labels,
        "phase": item.status.phase,
        "resource_version": item.metadata.resource_version,
    }


@dataclass(frozen=True)
class GpuNode:
    """A node offering nvidia.com/gpu, as "test connection" shows it."""

    name: str
    is_ready: bool
    gpus: int


@dataclass(frozen=True, order=True)
class Permission:
    """One verb on one resource, cluster-wide, as `kubectl auth can-i` names it."""

    verb: str
    resource: str
    group: str = ""
    name: str = ""

    def __str__(self) -> str:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {resource}/{self.name}" if self.name else f"{self.verb} {resource}"


def _rule(groups: tuple[str, ...], resources: tuple[str, ...], verbs: tuple[str, ...], name: str = "") -> list:
    return [Permission(verb, resource, group, name) for group in groups for resource in resources for verb in verbs]


_READ = ("get", "list", "watch")
#: What the portal's identity needs on every cluster it provisions: the rules of cluster/rbac.yaml and
#: deploy/base/rbac.yaml, expanded (tests/provisioning/test_connection_check.py keeps them equal).
REQUIRED_PERMISSIONS: tuple[Permission, ...] = (
    *_rule(("",), ("namespaces", "resourcequotas", "limitranges"), (*_READ, "create", "patch", "update", "delete")),
    *_rule(("scheduling.k8s.io",), ("priorityclasses",), (*_READ, "create", "patch", "update")),
    *_rule(("rbac.authorization.k8s.io",), ("rolebindings",), ("get", "list", "create", "patch", "update", "delete")),
    *_rule(("rbac.authorization.k8s.io",), ("clusterroles",), ("bind",), "edit"),
    *_rule(("",), ("nodes", "pods"), _READ),
    *_rule(("", "events.k8s.io"), ("events",), _READ),
)


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

    def __init__(self, cluster: Cluster | ClusterConnection, *, page_size: int = LIST_PAGE_SIZE) -> None:
        connection = cluster if isinstance(cluster, ClusterConnection) else _connection_of(cluster)
        self.connection = connection
        self.cluster = connection.cluster
        self.page_size = page_size
        #: Requests sent to the API server through this gateway, for benchmarks and logs.
        self.api_calls = 0
        self.api = _connect(connection)
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

    def list_quota_usage(self, *, from_watch_cache: bool = False) -> list[QuotaReading]:
        """Every managed ResourceQuota in the cluster, in one paginated LIST.

        Decoded from the JSON into QUOTA_PAGE's few fields: at 10,000 quotas the typed
        client's deserialisation costs twice the fetch itself. `from_watch_cache`: see `_list_raw`.
        """
        return [
            quota_reading(item)
            for item in self._list_raw(
                self.core.list_resource_quota_for_all_namespaces, page=QUOTA_PAGE, from_watch_cache=from_watch_cache
            )
        ]

    def list_managed_namespaces(self, *, from_watch_cache: bool = False) -> dict[str, dict]:
        """name -> {labels, phase, resource_version} of every namespace carrying the ownership label."""
        return {
            item.metadata.name: namespace_state(item)
            for item in self._list_raw(self.core.list_namespace, page=NAMESPACE_PAGE, from_watch_cache=from_watch_cache)
        }

    def list_quota_refusals(self, *, from_watch_cache: bool = False) -> list[RefusalEvent]:
        """Every FailedCreate Event saying "exceeded quota", in one paginated LIST across namespaces.

        The API server filters by reason (a field selector); the message is matched here, since
        events have no field for it.
        """
        refusals = []
        for item in self._list_raw(
            self.core.list_event_for_all_namespaces,
            selector=None,
            field_selector="reason=FailedCreate",
            from_watch_cache=from_watch_cache,
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

    def list_gpu_nodes(self) -> list[GpuNode]:
        """Every node with nvidia.com/gpu allocatable (Ready or not), by name."""
        nodes = []
        for node in self._list_raw(self.core.list_node, selector=None):
            status = node.get("status") or {}
            allocatable = status.get("allocatable") or {}
            if GPU_RESOURCE not in allocatable:
                continue
            conditions = status.get("conditions") or []
            nodes.append(
                GpuNode(
                    name=node["metadata"]["name"],
                    is_ready=any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions),
                    gpus=parse_quantity(allocatable[GPU_RESOURCE]).as_int_ceiling(),
                )
            )
        return sorted(nodes, key=lambda node: node.name)

    def missing_permissions(self, required: tuple[Permission, ...] = REQUIRED_PERMISSIONS) -> list[Permission]:
        """Which of `required` this identity lacks, asked one SelfSubjectAccessReview per permission.

        An access review answers exactly "may I do this verb here", whichever bindings grant it;
        SelfSubjectRulesReview lists only one namespace's rules and is incomplete by design.
        """
        authorization = client.AuthorizationV1Api(self.api)
        missing = []
        for permission in required:
            review = client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=client.V1ResourceAttributes(
                        verb=permission.verb,
                        group=permission.group,
                        resource=permission.resource,
                        name=permission.name or None,
                    )
                )
            )
            answer = self._call(authorization.create_self_subject_access_review, review)
            if not answer.status.allowed:
                missing.append(permission)
        return missing

    def _list_raw(
        self,
        method,
        selector: str | None = MANAGED_SELECTOR,
        field_selector: str | None = None,
        *,
        page: msgspec.json.Decoder = _DICT_PAGE,
        from_watch_cache: bool = False,
    ) -> Iterator:
        """Every item of a LIST, page by page, decoded by `page` (as dicts unless told).

        By default a quorum read (etcd, as of now). `from_watch_cache` asks for
        `resourceVersion="0"`: whatever the API server's watch cache holds, which may lag
        the latest write by a moment, without reading and decoding every object from etcd.
        The cache ignores `limit` (one page); should a server page anyway, later pages
        follow their continue token, which carries its own version.
        """
        token = None
        while True:
            response = self._call(
                method,
                label_selector=selector,
                field_selector=field_selector,
                resource_version="0" if from_watch_cache and token is None else None,
                limit=self.page_size,
                _continue=token,
                _preload_content=False,
            )
            answer = page.decode(response.data)
            yield from answer.items or []
            token = answer.metadata.continue_token
            if not token:
                return

    def _call(self, method, *args, **kwargs):
        self.api_calls += 1
        try:
            return _call(method, *args, **kwargs)
        except PermanentError as error:
            # An API server that is starting answers before its informers have synced, and RBAC then
            # refuses what it allows a moment later: seen as 403s right after a control plane restarted.
            if error.status in (401, 403) and not self.is_ready():
                raise TransientError(f"The API server is not ready yet: {error}", status=error.status) from None
            raise

    def is_ready(self) -> bool:
        """Whether the API server's /readyz passes: open to every identity (system:public-info-viewer)."""
        self.api_calls += 1
        method, url, headers, _, _ = self.api.param_serialize("GET", "/readyz", auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(method, url, header_params=headers, _request_timeout=TIMEOUT)
            response.read()
        except (ApiException, urllib3.exceptions.HTTPError, OSError):
            return False
        return response.status == 200


def _connection_of(cluster: Cluster) -> ClusterConnection:
    try:
        return ClusterConnection.objects.of(cluster)
    except ClusterConnection.DoesNotExist as error:
        raise PermanentError(str(error)) from error


def uses_pod_service_account(cluster: ClusterConnection) -> bool:
    """In-cluster config when the cluster asks for it, or when it names no kubeconfig and the portal runs in a pod.

    The second case is the default cluster of an installation from deploy/ (settings.KUBECONFIG is empty in a
    pod); a cluster with a kubeconfig keeps using it in a pod too, to reach a cluster other than its own.
    """
    return cluster.in_cluster or (not cluster.kubeconfig_path and settings.KUBE_IN_POD)


def _connect(cluster: ClusterConnection) -> client.ApiClient:
    configuration = client.Configuration()
    try:
        if uses_pod_service_account(cluster):
            # The loader load_incluster_config uses, with the token and CA where settings say the kubelet put them.
            account = Path(settings.KUBE_SERVICE_ACCOUNT_DIR)
            InClusterConfigLoader(
                token_filename=str(account / "token"), cert_filename=str(account / "ca.crt")
            ).load_and_set(configuration)
        elif cluster.kubeconfig_encrypted:
            # Decrypted in memory only; the loader writes just the embedded certificates to temporary files.
            config.load_kube_config_from_dict(
                yaml.safe_load(credentials.decrypt(cluster.kubeconfig_encrypted)),
                context=cluster.context or None,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            config.load_kube_config(
                config_file=cluster.kubeconfig_path or None,
                context=cluster.context or None,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, ValueError, credentials.CredentialsError, yaml.YAMLError) as error:
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
