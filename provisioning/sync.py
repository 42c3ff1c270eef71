"""Reading the cluster back: usage samples, observed state, drift and GPU capacity.

One sync is three LISTs per cluster (managed quotas, managed namespaces, FailedCreate
Events for the pods quotas refused) whatever the number of namespaces, and writes only
what changed: a usage sample when a quota's `hard` or `used` moves, a closing sample (0)
when a quota key disappears, and a sample of every key once per heartbeat period, so
that a gap in syncing shows in the data instead of looking like steady usage.

A steady cycle is cheap: each namespace's fingerprint (the resourceVersions of its
quotas and Namespace, and everything its drift is computed from) is compared with the
one stored at its last full sync, from a few columns of every row. Only namespaces whose
fingerprint moved or whose heartbeat is due are loaded and checked in full.

Drift is flagged only once it persists: a check that finds the cluster differing from desired
stores the difference (`drift`) but marks nothing, and checks the namespace again at the next
cycle, whatever its fingerprint; only if that check differs too is the namespace drifted
(`is_drifted`, in the cycle's `drifted` list that auto-reconcile acts on, and an event).

What people must hear of is recorded as events (teams.events) in the sync's transaction: a
namespace that becomes drifted (once, not at every cycle it stays so), and the quota warnings
of the namespaces whose usage moved (provisioning.quota_warnings).
"""

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from provisioning.cluster import ClusterError, ClusterGateway, QuotaReading, RefusalEvent, TransientError
from provisioning.manifests import OWNERSHIP, render_quotas
from provisioning.models import ClusterConnection, UsageSample
from provisioning.quota_warnings import check_quota_warnings
from provisioning.refusals import store_refusals
from teams import events
from teams.catalog import TierCatalog
from teams.models import Cluster, GpuTier, TeamNamespace
from teams.quantities import QuantityError, parse_quantity

logger = logging.getLogger(__name__)

OBSERVED_FIELDS = [
    "observed_quotas",
    "phase",
    "is_drifted",
    "drift",
    "last_synced_at",
    "last_sampled_at",
    "synced_fingerprint",
]
#: What drift is computed from, besides the tiers: read for every row, as text, to fingerprint.
DESIRED_INPUTS = (
    Cast("quotas", TextField()),
    Cast("labels", TextField()),
    "tier_id",
    "team__slug",
    "team__cost_center__code",
    "last_applied_at",
)
#: Rows loaded per query when checking namespaces in full.
LOAD_BATCH = 500
#: The stored fingerprint of a namespace to check in full at the next cycle (as before its first sync).
CHECK_AGAIN = ""


@dataclass
class SyncResult:
    namespaces: int = 0
    #: Namespaces checked in full this cycle (the others' fingerprints had not moved).
    checked: int = 0
    samples: int = 0
    #: Quota refusals (one per involved object) written this cycle.
    refusals: int = 0
    #: Quota warnings recorded this cycle (provisioning.quota_warnings).
    warnings: int = 0
    api_calls: int = 0
    drifted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Due:
    fingerprint: str
    heartbeat: bool


def sync_usage(cluster: Cluster, *, now: datetime | None = None) -> SyncResult:
    """Store what the cluster reports for every namespace the portal manages there; mark drift.

    Only `cluster`'s namespaces are read and written: a namespace of the same name on another
    cluster is another namespace, which this cluster's LISTs say nothing about.
    """
    now = now or timezone.now()
    readings, seen, refused, api_calls = _read_cluster(cluster)
    result = SyncResult(api_calls=api_calls)
    by_namespace: dict[str, list[QuotaReading]] = {}
    for reading in readings:
        by_namespace.setdefault(reading.namespace, []).append(reading)

    heartbeat = settings.USAGE_HEARTBEAT_SECONDS
    catalog = TierCatalog.load()
    tiers_state = repr([[getattr(tier, f.attname) for f in GpuTier._meta.concrete_fields] for tier in catalog.tiers])
    due: dict[int, _Due] = {}
    namespace_ids: dict[str, int] = {}
    keys = (
        TeamNamespace.objects.live()
        .filter(cluster=cluster)
        .values_list("pk", "name", "synced_fingerprint", "last_sampled_at", "is_drifted", *DESIRED_INPUTS)
    )
    for pk, name, stored, last_sampled_at, is_drifted, *desired in keys:
        result.namespaces += 1
        namespace_ids[name] = pk
        fingerprint = _fingerprint(seen.get(name), by_namespace.get(name, ()), tiers_state, *desired)
        heartbeat_due = last_sampled_at is None or now - last_sampled_at >= heartbeat_period(pk, heartbeat)
        if fingerprint != stored or heartbeat_due:
            due[pk] = _Due(fingerprint, heartbeat_due)
        elif is_drifted:
            result.drifted.append(name)

    samples: list[UsageSample] = []
    checked: list[TeamNamespace] = []
    usage_moved: list[TeamNamespace] = []
    newly_drifted: list[TeamNamespace] = []
    for namespace in _load(due):
        result.checked += 1
        check = due[namespace.pk]
        observed = {
            reading.name: {"hard": reading.hard, "used": reading.used}
            for reading in by_namespace.get(namespace.name, [])
        }
        phase = _phase(namespace, seen.get(namespace.name))
        drift = _drift(namespace, observed, seen.get(namespace.name), catalog) if namespace.last_applied_at else {}
        samples.extend(_samples(cluster, namespace, observed, now, every_key=check.heartbeat))
        if observed != namespace.observed_quotas:
            usage_moved.append(namespace)
        # The previous check (at the previous cycle, see CHECK_AGAIN) found a difference too.
        is_drifted = bool(drift) and (namespace.is_drifted or bool(namespace.drift))
        if is_drifted and not namespace.is_drifted:
            newly_drifted.append(namespace)
        # Checked means its fingerprint moved or its heartbeat is due: the row is written either way.
        namespace.observed_quotas, namespace.phase = observed, phase
        namespace.is_drifted, namespace.drift = is_drifted, drift
        namespace.synced_fingerprint = CHECK_AGAIN if drift and not is_drifted else check.fingerprint
        namespace.last_synced_at = now
        if check.heartbeat:
            namespace.last_sampled_at = now
        checked.append(namespace)
        if is_drifted:
            result.drifted.append(namespace.name)

    with transaction.atomic():
        UsageSample.objects.bulk_create(samples, batch_size=2000)
        TeamNamespace.objects.bulk_update(checked, OBSERVED_FIELDS, batch_size=1000)
        result.refusals = store_refusals(cluster, refused, namespace_ids, now)
        result.warnings = check_quota_warnings(usage_moved, now)
        _record_drift(newly_drifted)
        ClusterConnection.objects.filter(cluster=cluster).update(
            health=ClusterConnection.Health.OK, last_error="", last_synced_at=now
        )
    result.samples = len(samples)
    logger.info(
        "usage.synced",
        extra={
            "cluster": cluster.name,
            "namespaces": result.namespaces,
            "checked": result.checked,
            "samples": result.samples,
            "refusals": result.refusals,
            "warnings": result.warnings,
            "api_calls": result.api_calls,
            "drifted": len(result.drifted),
        },
    )
    return result


def _record_drift(namespaces: list[TeamNamespace]) -> None:
    """One event per namespace that became drifted in this sync; none while it stays drifted."""
    if not namespaces:
        return
    actor = events.system_actor()
    for namespace in namespaces:
        events.record(
            "namespace.drift_detected",
            actor=actor,
            target=namespace.audit_target,
            after={"namespace": namespace.name, "team": namespace.team.slug, "drift": namespace.drift},
        )


def _read_cluster(cluster: Cluster) -> tuple[list[QuotaReading], dict[str, dict], list[RefusalEvent], int]:
    """The three LISTs of a sync, and how many API calls they took; a failure marks the cluster's health.

    All three come from the API server's watch cache rather than a quorum read of etcd: cheaper
    (no read and decoding of every object), and safe here because a sync is a reconciliation
    repeated every cycle. An answer a moment stale is corrected by the next cycle's (samples
    step to the newer values then, a refusal is stored a cycle later), and it raises no alarm
    on its own: drift is only flagged when two consecutive cycles both see it (see sync_usage).
    """
    try:
        with ClusterGateway(cluster) as gateway:
            readings = gateway.list_quota_usage(from_watch_cache=True)
            seen = gateway.list_managed_namespaces(from_watch_cache=True)
            refused = gateway.list_quota_refusals(from_watch_cache=True)
    except ClusterError as error:
        ClusterConnection.objects.filter(cluster=cluster).update(health=_health_of(error), last_error=str(error))
        raise
    return readings, seen, refused, gateway.api_calls


def _fingerprint(seen: dict | None, readings: Iterable[QuotaReading], *desired) -> str:
    """Changes whenever the Namespace, any of its quotas (status included) or what is desired does."""
    parts = [seen["resource_version"] if seen else "missing"]
    parts.extend(sorted(f"{reading.name}={reading.resource_version}" for reading in readings))
    parts.extend(str(value) for value in desired)
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def _load(due: dict[int, _Due]) -> Iterable[TeamNamespace]:
    ids = sorted(due)
    for start in range(0, len(ids), LOAD_BATCH):
        yield from TeamNamespace.objects.filter(pk__in=ids[start : start + LOAD_BATCH]).select_related(
            "team__cost_center", "tier"
        )


def sync_capacity(cluster: Cluster) -> ClusterConnection:
    """The GPU-equivalents allocatable on the cluster's Ready nodes (slices by the catalog's weights):
    what its guaranteed GPUs are weighed against."""
    try:
        with ClusterGateway(cluster) as gateway:
            capacity = gateway.node_gpu_capacity(TierCatalog.load().weights)
    except ClusterError as error:
        ClusterConnection.objects.filter(cluster=cluster).update(health=_health_of(error), last_error=str(error))
        raise
    ClusterConnection.objects.filter(cluster=cluster).update(
        gpu_capacity=capacity.gpus,
        ready_nodes=capacity.ready_nodes,
        capacity_synced_at=timezone.now(),
        health=ClusterConnection.Health.OK,
        last_error="",
    )
    return ClusterConnection.objects.get(cluster=cluster)


def heartbeat_period(namespace_id: int, heartbeat_seconds: int) -> timedelta:
    """Between half the heartbeat and all of it, by namespace: namespaces synced together for the
    first time then heartbeat at different cycles, instead of all in one cycle every hour."""
    return timedelta(seconds=heartbeat_seconds * (1 - (namespace_id * 7919 % 60) / 120))


def _phase(namespace: TeamNamespace, seen: dict | None) -> str:
    if seen is not None:
        return seen["phase"]
    return TeamNamespace.Phase.MISSING if namespace.last_applied_at else TeamNamespace.Phase.PENDING


def _drift(namespace: TeamNamespace, observed: dict, seen: dict | None, catalog: TierCatalog) -> dict:
    """Where the cluster differs from desired: per quota key and per label, desired vs observed."""
    if seen is None:
        return {"namespace": "missing from the cluster"}
    drift: dict = {}
    for quota in render_quotas(namespace, catalog):
        name = quota["metadata"]["name"]
        desired = quota["spec"]["hard"]
        actual = (observed.get(name) or {}).get("hard")
        if actual is None:
            drift.setdefault("quotas", {})[name] = "missing from the cluster"
            continue
        keys = sorted(set(desired) | set(actual))
        differences = {
            key: {"desired": desired.get(key), "observed": actual.get(key)}
            for key in keys
            if not _same_quantity(desired.get(key), actual.get(key))
        }
        if differences:
            drift.setdefault("quotas", {})[name] = differences
    wanted_labels = {**namespace.desired_labels, **OWNERSHIP}
    labels = {
        key: {"desired": value, "observed": seen["labels"].get(key)}
        for key, value in wanted_labels.items()
        if seen["labels"].get(key) != value
    }
    if labels:
        drift["labels"] = labels
    return drift


def _same_quantity(desired: str | None, observed: str | None) -> bool:
    if desired == observed:  # the common case: both canonical; parsing is the slow path
        return True
    if desired is None or observed is None:
        return False
    try:
        return parse_quantity(desired) == parse_quantity(observed)
    except QuantityError:
        return desired == observed


def _samples(cluster: Cluster, namespace: TeamNamespace, observed: dict, now: datetime, *, every_key: bool) -> list:
    """A sample per quota key that moved (every key when `every_key`), and a closing 0 per key gone."""
    previous = namespace.observed_quotas or {}
    samples = []

    def sample(quota_name: str, resource: str, hard: Decimal, used: Decimal | None) -> None:
        samples.append(
            UsageSample(
                cluster=cluster,
                namespace=namespace,
                quota_name=quota_name,
                resource=resource,
                time=now,
                hard=hard,
                used=used,
            )
        )

    for quota_name, values in observed.items():
        before = previous.get(quota_name) or {}
        used = values["used"] or {}
        for resource, hard in values["hard"].items():
            now_used = used.get(resource) if values["used"] is not None else None
            before_used = (before.get("used") or {}).get(resource) if before.get("used") is not None else None
            if not every_key and (before.get("hard") or {}).get(resource) == hard and before_used == now_used:
                continue
            sample(quota_name, resource, _decimal(hard), None if now_used is None else _decimal(now_used))
    for quota_name, values in previous.items():
        still = (observed.get(quota_name) or {}).get("hard") or {}
        for resource in values.get("hard") or {}:
            if resource not in still:  # the key or its quota is gone: nothing is reserved or counted any more
                sample(quota_name, resource, Decimal(0), Decimal(0))
    return samples


def _decimal(value: str) -> Decimal:
    return parse_quantity(value).value


def _health_of(error: ClusterError) -> str:
    return ClusterConnection.Health.UNREACHABLE if isinstance(error, TransientError) else ClusterConnection.Health.ERROR
