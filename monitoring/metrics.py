"""The portal's Prometheus metrics, computed from the database when Prometheus scrapes.

Every web process answers the same, whichever one a scrape reaches, because nothing is
held in process memory: gauges are read from the rows (a fixed number of queries, never
one per namespace), and the totals of what happened are kept by the events module's
subscriber (monitoring.tallies). Names follow kube-state-metrics: `gpu_portal_<object>_<what>`.
See docs/metrics.md.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from monitoring import tallies
from monitoring.broker import BrokerUnreachable, queue_length
from teams.capacity import CapacityTotals
from teams.models import Cluster, Request, TeamNamespace
from teams.usage import gpu_usage

NAMESPACE_LABELS = ["cluster", "namespace", "team", "cost_center", "tier"]
#: How long pending requests have waited: (label, at least, less than).
AGE_BUCKETS = (
    ("under_1h", timedelta(0), timedelta(hours=1)),
    ("1h_to_1d", timedelta(hours=1), timedelta(days=1)),
    ("1d_to_7d", timedelta(days=1), timedelta(days=7)),
    ("over_7d", timedelta(days=7), None),
)


class PortalCollector:
    """A prometheus_client collector; registered in a registry of its own for each scrape."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from pending_requests(now)
        yield from event_totals()
        yield from clusters(now)
        yield from namespaces()
        yield from celery_queue()


def pending_requests(now: datetime) -> Iterator[Metric]:
    counts = {
        label: Count("pk", filter=Q(created_at__lte=now - least) & (Q(created_at__gt=now - most) if most else Q()))
        for label, least, most in AGE_BUCKETS
    }
    rows = {
        row["kind"]: row
        for row in Request.objects.filter(state=Request.State.PENDING).values("kind").annotate(**counts)
    }
    pending = GaugeMetricFamily(
        "gpu_portal_requests_pending",
        "Requests waiting for an approver, by kind and by how long they have waited.",
        labels=["kind", "age"],
    )
    for kind in Request.Kind.values:
        for label, _, _ in AGE_BUCKETS:
            pending.add_metric([kind, label], (rows.get(kind) or {}).get(label, 0))
    yield pending


def event_totals() -> Iterator[Metric]:
    totals = tallies.read_tallies()
    latency = tallies.histogram(totals.get(tallies.APPROVE_TO_APPLIED, {}))
    yield HistogramMetricFamily(
        "gpu_portal_approve_to_applied_seconds",
        "Seconds from a request's approval to its changes being applied on the cluster (retries included).",
        buckets=[(floatToGoString(bound), count) for bound, count in latency.buckets],
        sum_value=latency.total,
    )
    failures = CounterMetricFamily(
        "gpu_portal_apply_failures", "Requests provisioning failed, by reason.", labels=["reason"]
    )
    counted = totals.get(tallies.APPLY_FAILURES, {})
    for reason in sorted(set(Request.FailureReason.values) | set(counted)):
        failures.add_metric([reason], counted.get(reason, 0))
    yield failures


def clusters(now: datetime) -> Iterator[Metric]:
    totals = CapacityTotals()
    age = GaugeMetricFamily(
        "gpu_portal_cluster_usage_sync_age_seconds",
        "Seconds since the last successful usage sync of the cluster (+Inf before the first).",
        labels=["cluster"],
    )
    capacity = GaugeMetricFamily(
        "gpu_portal_cluster_gpu_capacity",
        "Allocatable GPU-equivalents (nvidia.com/gpu, MIG slices and shared GPUs by weight) over the cluster's "
        "Ready nodes at the last capacity sync.",
        labels=["cluster"],
    )
    guaranteed = GaugeMetricFamily(
        "gpu_portal_cluster_gpu_guaranteed",
        "GPU-equivalents the portal guarantees on the cluster: the sum over live namespaces, as the approval queue "
        "shows it.",
        labels=["cluster"],
    )
    for row in totals.rows:
        name, last_synced_at = row.cluster.name, row.status.last_synced_at
        age.add_metric([name], (now - last_synced_at).total_seconds() if last_synced_at else float("inf"))
        if row.capacity is not None:
            capacity.add_metric([name], float(row.capacity))
        guaranteed.add_metric([name], float(row.guaranteed))
    yield from (age, capacity, guaranteed)


def namespaces() -> Iterator[Metric]:
    used = GaugeMetricFamily(
        "gpu_portal_namespace_gpu_used",
        "GPUs the namespace's pods request (requests.nvidia.com/gpu used, over its quotas) at the last sync.",
        labels=NAMESPACE_LABELS,
    )
    hard = GaugeMetricFamily(
        "gpu_portal_namespace_gpu_hard",
        "The namespace's requests.nvidia.com/gpu hard, over its quotas, as the cluster reports it.",
        labels=NAMESPACE_LABELS,
    )
    drifted: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    # Across clusters, deliberately: one scrape, each series labelled with its cluster.
    rows = TeamNamespace.objects.live().values_list(
        "cluster__name",
        "name",
        "team__slug",
        "team__cost_center__code",
        "tier__slug",
        "observed_quotas",
        "is_drifted",
        "reconcile_state",
    )
    for cluster, name, team, cost_center, tier, observed, is_drifted, reconcile_state in rows:
        gpus = gpu_usage(observed)
        labels = [cluster, name, team, cost_center, tier]
        if gpus.hard is not None:
            hard.add_metric(labels, gpus.hard)
        if gpus.used is not None:
            used.add_metric(labels, gpus.used)
        drifted[cluster] += is_drifted
        failed[cluster] += reconcile_state == TeamNamespace.ReconcileState.FAILED
    yield from (used, hard)
    by_cluster = (
        (
            "gpu_portal_namespaces_drifted",
            "Live namespaces whose cluster state differs from their desired state.",
            drifted,
        ),
        ("gpu_portal_namespaces_reconcile_failed", "Live namespaces whose last reconcile failed.", failed),
    )
    for metric, description, counts in by_cluster:
        family = GaugeMetricFamily(metric, description, labels=["cluster"])
        for cluster in Cluster.objects.values_list("name", flat=True):
            family.add_metric([cluster], counts[cluster])
        yield family


def celery_queue() -> Iterator[Metric]:
    queue = current_app.conf.task_default_queue
    up = GaugeMetricFamily(
        "gpu_portal_celery_broker_up", "Whether the Celery broker answered this scrape (1) or not (0)."
    )
    try:
        waiting = queue_length(settings.CELERY_BROKER_URL, queue, timeout=settings.READINESS_TIMEOUT_SECONDS)
    except BrokerUnreachable:
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    length = GaugeMetricFamily(
        "gpu_portal_celery_queue_length", "Tasks waiting in the Celery queue for a worker.", labels=["queue"]
    )
    length.add_metric([queue], waiting)
    yield length
