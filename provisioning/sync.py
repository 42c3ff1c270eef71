"""Reading the cluster back: usage samples, observed state, drift and GPU capacity.

One sync is two LISTs per cluster (managed quotas, managed namespaces) whatever the
number of namespaces, and writes only what changed: a usage sample when a quota's
`hard` or `used` moves, plus one per namespace per hour as a heartbeat, so that a gap
in syncing shows in the data instead of looking like steady usage.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from provisioning.cluster import ClusterError, ClusterGateway, QuotaReading, TransientError
from provisioning.manifests import OWNERSHIP, preemptible_classes, render_quotas
from provisioning.models import Cluster, UsageSample
from teams.models import GpuTier, TeamNamespace
from teams.quantities import QuantityError, parse_quantity
from teams.specs import total_guaranteed_gpus

logger = logging.getLogger(__name__)

OBSERVED_FIELDS = ["observed_quotas", "phase", "is_drifted", "drift", "last_synced_at", "last_sampled_at"]


@dataclass
class SyncResult:
    namespaces: int = 0
    samples: int = 0
    changed: int = 0
    api_calls: int = 0
    drifted: list[str] = field(default_factory=list)


def sync_usage(cluster: Cluster, *, now: datetime | None = None) -> SyncResult:
    """Store what the cluster reports for every managed namespace; mark drift."""
    now = now or timezone.now()
    try:
        with ClusterGateway(cluster) as gateway:
            readings = gateway.list_quota_usage()
            seen = gateway.list_managed_namespaces()
    except ClusterError as error:
        Cluster.objects.filter(pk=cluster.pk).update(health=_health_of(error), last_error=str(error))
        raise
    result = SyncResult(api_calls=gateway.api_calls)
    by_namespace: dict[str, list[QuotaReading]] = {}
    for reading in readings:
        by_namespace.setdefault(reading.namespace, []).append(reading)

    preemptible = preemptible_classes(GpuTier.objects.all())
    heartbeat = settings.USAGE_HEARTBEAT_SECONDS
    samples: list[UsageSample] = []
    changed: list[TeamNamespace] = []
    for namespace in TeamNamespace.objects.live().select_related("team__cost_center", "tier"):
        result.namespaces += 1
        observed = {
            reading.name: {"hard": reading.hard, "used": reading.used}
            for reading in by_namespace.get(namespace.name, [])
        }
        phase = _phase(namespace, seen.get(namespace.name))
        drift = _drift(namespace, observed, seen.get(namespace.name), preemptible) if namespace.last_applied_at else {}
        is_heartbeat = namespace.last_sampled_at is None or now - namespace.last_sampled_at >= _heartbeat_period(
            namespace.pk, heartbeat
        )
        new_samples = _samples(cluster, namespace, observed, now, every_key=is_heartbeat)
        samples.extend(new_samples)
        state = (observed, phase, bool(drift), drift)
        if state != (namespace.observed_quotas, namespace.phase, namespace.is_drifted, namespace.drift) or new_samples:
            namespace.observed_quotas, namespace.phase, namespace.is_drifted, namespace.drift = state
            namespace.last_synced_at = now
            if new_samples:
                namespace.last_sampled_at = now
            changed.append(namespace)
        if drift:
            result.drifted.append(namespace.name)

    with transaction.atomic():
        UsageSample.objects.bulk_create(samples, batch_size=2000)
        TeamNamespace.objects.bulk_update(changed, OBSERVED_FIELDS, batch_size=1000)
        Cluster.objects.filter(pk=cluster.pk).update(health=Cluster.Health.OK, last_error="", last_synced_at=now)
    result.samples, result.changed = len(samples), len(changed)
    logger.info(
        "usage.synced",
        extra={
            "cluster": cluster.name,
            "namespaces": result.namespaces,
            "samples": result.samples,
            "api_calls": result.api_calls,
            "drifted": len(result.drifted),
        },
    )
    return result


def sync_capacity(cluster: Cluster) -> Cluster:
    """Node GPU capacity, and the guaranteed GPUs the portal has promised against it."""
    try:
        with ClusterGateway(cluster) as gateway:
            capacity = gateway.node_gpu_capacity()
    except ClusterError as error:
        Cluster.objects.filter(pk=cluster.pk).update(health=_health_of(error), last_error=str(error))
        raise
    guaranteed = total_guaranteed_gpus(TeamNamespace.objects.live().select_related("tier"), list(GpuTier.objects.all()))
    Cluster.objects.filter(pk=cluster.pk).update(
        gpu_capacity=capacity.gpus,
        ready_nodes=capacity.ready_nodes,
        guaranteed_gpus=guaranteed,
        capacity_synced_at=timezone.now(),
        health=Cluster.Health.OK,
        last_error="",
    )
    cluster.refresh_from_db()
    return cluster


def _heartbeat_period(namespace_id: int, heartbeat_seconds: int) -> timedelta:
    """Between half the heartbeat and all of it, by namespace: namespaces synced together for the
    first time then heartbeat at different cycles, instead of all in one cycle every hour."""
    return timedelta(seconds=heartbeat_seconds * (1 - (namespace_id * 7919 % 60) / 120))


def _phase(namespace: TeamNamespace, seen: dict | None) -> str:
    if seen is not None:
        return seen["phase"]
    return TeamNamespace.Phase.MISSING if namespace.last_applied_at else TeamNamespace.Phase.PENDING


def _drift(namespace: TeamNamespace, observed: dict, seen: dict | None, preemptible: set[str]) -> dict:
    """Where the cluster differs from desired: per quota key and per label, desired vs observed."""
    if seen is None:
        return {"namespace": "missing from the cluster"}
    drift: dict = {}
    for quota in render_quotas(namespace, preemptible):
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
    previous = namespace.observed_quotas or {}
    samples = []
    for quota_name, values in observed.items():
        before = previous.get(quota_name) or {}
        used = values["used"] or {}
        for resource, hard in values["hard"].items():
            now_used = used.get(resource) if values["used"] is not None else None
            before_used = (before.get("used") or {}).get(resource) if before.get("used") is not None else None
            if not every_key and (before.get("hard") or {}).get(resource) == hard and before_used == now_used:
                continue
            samples.append(
                UsageSample(
                    cluster=cluster,
                    namespace=namespace,
                    quota_name=quota_name,
                    resource=resource,
                    time=now,
                    hard=_decimal(hard),
                    used=None if now_used is None else _decimal(now_used),
                )
            )
    return samples


def _decimal(value: str) -> Decimal:
    return parse_quantity(value).value


def _health_of(error: ClusterError) -> str:
    return Cluster.Health.UNREACHABLE if isinstance(error, TransientError) else Cluster.Health.ERROR
