"""Raw usage samples rolled up into hourly, daily and monthly rows, so that no report reads raw samples.

The hourly rollup integrates every complete hour once (chargeback.integration) and
carries each series' last value across the watermark in checkpoints; the daily rollup
sums complete days of hourly rows, the monthly one complete months of daily rows (per
namespace, and those again per team). Each row is attributed to the namespace's tier, team
and cost center at the time it is rolled up (within minutes of the hour's end), so a later
tier change or reorganisation never rewrites what was billed; and to its cluster, which
never changes.
"""

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from operator import itemgetter

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from chargeback.adjustments import closed_until, split_closed_hours
from chargeback.integration import NamespaceState, Sample, Value, epoch, from_epoch, integrate
from chargeback.models import (
    METRICS,
    DailyUsage,
    HourlyUsage,
    MonthlyUsage,
    NamespaceCheckpoint,
    RollupState,
    SeriesCheckpoint,
    TeamMonthlyUsage,
)
from provisioning.manifests import render_quotas
from provisioning.models import UsageSample
from teams.catalog import TierCatalog
from teams.models import TeamNamespace

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: Hours integrated per transaction.
CHUNK_HOURS = 24


@dataclass
class RollupResult:
    hours: int = 0
    hourly_rows: int = 0
    days: int = 0
    daily_rows: int = 0
    months: int = 0
    monthly_rows: int = 0
    complete_until: datetime | None = None


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def floor_month(moment: datetime) -> datetime:
    return floor_day(moment).replace(day=1)


def next_month(moment: datetime) -> datetime:
    """The first moment of the month after `moment`'s."""
    return (floor_month(moment) + timedelta(days=32)).replace(day=1)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def watermark(name: str) -> datetime | None:
    return RollupState.objects.filter(name=name).values_list("complete_until", flat=True).first()


def roll_up(*, now: datetime | None = None, max_hours: int | None = None) -> RollupResult:
    """Roll up every complete hour not yet rolled up (at most `max_hours`), then every complete day."""
    now = now or timezone.now()
    max_hours = max_hours or settings.CHARGEBACK_ROLLUP_MAX_HOURS
    target = floor_hour(now - timedelta(seconds=settings.CHARGEBACK_ROLLUP_DELAY_SECONDS))
    result = RollupResult()
    newest_sample = UsageSample.objects.aggregate(newest=Max("pk"))["newest"] or 0
    restart_for_late_samples()
    start = watermark(RollupState.HOURLY)
    if start is None:
        first = UsageSample.objects.order_by("time").values_list("time", flat=True).first()
        if first is None:
            return result
        start = floor_hour(first)
        save_checkpoints({})  # a first run knows nothing yet, whatever an earlier database held
    end = min(target, start + max_hours * HOUR)
    while start < end:
        chunk_end = min(start + CHUNK_HOURS * HOUR, end)
        result.hourly_rows += roll_up_hours(start, chunk_end)
        result.hours += int((chunk_end - start) / HOUR)
        start = chunk_end
    result.days, result.daily_rows = roll_up_days()
    result.months, result.monthly_rows = roll_up_months()
    RollupState.objects.filter(name=RollupState.HOURLY).update(last_sample_id=newest_sample)
    result.complete_until = watermark(RollupState.HOURLY)
    logger.info(
        "chargeback.rolled_up",
        extra={"hours": result.hours, "hourly_rows": result.hourly_rows, "days": result.days, "months": result.months},
    )
    return result


def restart_for_late_samples() -> None:
    """Samples that arrived, since the last run, for a closed month: integrate again from the first of them.

    Hours of closed months are not rewritten (chargeback.adjustments books the difference);
    late samples for open months are left to an operator's restart, as before months closed.
    """
    state = RollupState.objects.filter(name=RollupState.HOURLY).values("complete_until", "last_sample_id").first()
    until = closed_until()
    if state is None or until is None:
        return
    late = UsageSample.objects.filter(
        pk__gt=state["last_sample_id"], time__lt=min(until, state["complete_until"])
    ).aggregate(first=Min("time"), count=Count("pk"))
    if late["first"] is not None:
        logger.warning(
            "chargeback.late_samples",
            extra={"samples": late["count"], "first": late["first"].isoformat(), "closed_until": until.isoformat()},
        )
        restart_from(late["first"])


def roll_up_hours(start: datetime, end: datetime) -> int:
    """Integrate [start, end) (whole hours, starting at the hourly watermark); return the rows written.

    Hours in a closed month keep their rows: the difference is booked as an adjustment.
    """
    # Across clusters, deliberately: each namespace's samples are its own cluster's.
    namespaces = live_namespaces(TeamNamespace.objects.all(), start)
    states = load_checkpoints(namespaces)
    rows = integrate_hours(namespaces, states, start, end)
    with transaction.atomic():
        rows, closed_hours = split_closed_hours(rows, start, end)
        HourlyUsage.objects.filter(hour__gte=start, hour__lt=end).exclude(closed_hours).delete()
        HourlyUsage.objects.bulk_create(rows, batch_size=2000)
        save_checkpoints({key: value for key, value in states.items() if key in namespaces})
        RollupState.objects.update_or_create(name=RollupState.HOURLY, defaults={"complete_until": end})
    return len(rows)


def live_namespaces(queryset, start: datetime) -> dict[int, TeamNamespace]:
    """id -> namespace of those in `queryset` not deleted before `start`, with what attribution reads."""
    live = queryset.select_related("tier", "team").filter(Q(deleted_at__isnull=True) | Q(deleted_at__gt=start))
    return {namespace.pk: namespace for namespace in live}


def integrate_hours(
    namespaces: dict[int, TeamNamespace], states: dict[int, NamespaceState], start: datetime, end: datetime
) -> list[HourlyUsage]:
    """Unsaved hourly rows of `namespaces` over [start, end) from raw samples; `states` (what held at start) advance.

    The one integration both the rollup (which stores the rows) and the provisional part of a
    report (which only sums them) run; `end` need not be on a whole hour.
    """
    max_gap = settings.CHARGEBACK_MAX_GAP_SECONDS
    catalog = TierCatalog.load()
    rows: list[HourlyUsage] = []
    begin, finish = epoch(start), epoch(end)

    def integrate_namespace(namespace_id: int, samples: list[Sample]) -> None:
        namespace = namespaces.get(namespace_id)
        if namespace is None:
            return  # deleted before this period, or not the caller's to see
        state = states.setdefault(namespace_id, NamespaceState())
        totals = integrate(
            state,
            samples,
            start=begin,
            end=finish,
            max_gap=max_gap,
            is_guaranteed=quota_classifier(namespace, catalog),
            deleted_at=epoch(namespace.deleted_at) if namespace.deleted_at else None,
            gpu_weights=catalog.weights,
        )
        for bucket, values in totals.items():
            if any(values.values()):
                rows.append(hourly_row(namespace, from_epoch(bucket), values))

    seen = set()
    for namespace_id, group in groupby(raw_samples(start, end), key=itemgetter(0)):
        seen.add(namespace_id)
        integrate_namespace(namespace_id, [sample for _, sample in group])
    for namespace_id in list(states):
        if namespace_id not in seen:
            integrate_namespace(namespace_id, [])
    return rows


def raw_samples(start: datetime, end: datetime) -> Iterator[tuple[int, Sample]]:
    """(namespace id, sample) in [start, end), by namespace then time, streamed from the database."""
    rows = (
        UsageSample.objects.filter(time__gte=start, time__lt=end)
        .order_by("namespace_id", "time", "id")
        .values_list("namespace_id", "time", "quota_name", "resource", "hard", "used")
    )
    for namespace_id, time, quota, key, hard, used in rows.iterator(chunk_size=20000):
        yield namespace_id, Sample(epoch(time), quota, key, hard, used)


def quota_classifier(namespace: TeamNamespace, catalog: TierCatalog):
    """quota name -> whether it holds guaranteed (reserved) resources, by the tier catalog's rule.

    Quotas are read as provisioning renders them now (with the enforced-burst split);
    a quota name no longer rendered counts as an unscoped quota of its tier.
    """
    guaranteed = {
        quota["metadata"]["name"]: catalog.is_guaranteed(quota["spec"], namespace.tier)
        for quota in render_quotas(namespace, catalog)
    }
    default = catalog.is_guaranteed({}, namespace.tier)
    return lambda quota_name: guaranteed.get(quota_name, default)


def hourly_row(namespace: TeamNamespace, hour: datetime, values: dict[str, int]) -> HourlyUsage:
    day = hour.date()
    return HourlyUsage(
        namespace=namespace,
        hour=hour,
        day=day,
        week=week_of(day),
        month=day.replace(day=1),
        tier_id=namespace.tier_id,
        team_id=namespace.team_id,
        cost_center_id=namespace.team.cost_center_id,
        cluster_id=namespace.cluster_id,
        **values,
    )


def load_checkpoints(namespaces: dict) -> dict[int, NamespaceState]:
    states: dict[int, NamespaceState] = {}
    for namespace_id, last_seen in NamespaceCheckpoint.objects.values_list("namespace_id", "last_seen"):
        if namespace_id in namespaces:
            states[namespace_id] = NamespaceState(last_seen=epoch(last_seen))
    for checkpoint in SeriesCheckpoint.objects.all().iterator(chunk_size=5000):
        state = states.get(checkpoint.namespace_id)
        if state is not None:
            state.values[checkpoint.quota_name, checkpoint.resource] = Value(
                epoch(checkpoint.time), checkpoint.hard, checkpoint.used
            )
    return states


def save_checkpoints(states: dict[int, NamespaceState]) -> None:
    SeriesCheckpoint.objects.all().delete()
    NamespaceCheckpoint.objects.all().delete()
    NamespaceCheckpoint.objects.bulk_create(
        [
            NamespaceCheckpoint(namespace_id=namespace_id, last_seen=from_epoch(state.last_seen))
            for namespace_id, state in states.items()
            if state.last_seen is not None
        ],
        batch_size=2000,
    )
    SeriesCheckpoint.objects.bulk_create(
        [
            SeriesCheckpoint(
                namespace_id=namespace_id,
                quota_name=quota,
                resource=key,
                time=from_epoch(value.time),
                hard=value.hard,
                used=value.used,
            )
            for namespace_id, state in states.items()
            for (quota, key), value in state.values.items()
        ],
        batch_size=2000,
    )


def roll_up_days() -> tuple[int, int]:
    """Sum every complete day of hourly rows not yet in the daily table; return (days, rows)."""
    hourly = watermark(RollupState.HOURLY)
    if hourly is None:
        return 0, 0
    start = watermark(RollupState.DAILY)
    if start is None:
        first = HourlyUsage.objects.order_by("hour").values_list("hour", flat=True).first()
        if first is None:
            return 0, 0
        start = floor_day(first)
    end = floor_day(hourly)
    if start >= end:
        return 0, 0
    with transaction.atomic():
        rows = sum_days(start, end)
        RollupState.objects.update_or_create(name=RollupState.DAILY, defaults={"complete_until": end})
    return (end - start).days, rows


def sum_days(start: datetime, end: datetime) -> int:
    """Replace the daily rows of [start, end) (whole days) by the sums of their hourly rows; return how many."""
    keys = ["namespace_id", "day", "week", "month", "tier_id", "team_id", "cost_center_id", "cluster_id"]
    sums = (
        HourlyUsage.objects.filter(hour__gte=start, hour__lt=end)
        .values(*keys)
        .annotate(**{f"total_{name}": Sum(name) for name in METRICS})
        .order_by()
    )
    rows = [
        DailyUsage(**{key: row[key] for key in keys}, **{name: row[f"total_{name}"] for name in METRICS})
        for row in sums.iterator(chunk_size=5000)
    ]
    with transaction.atomic():
        DailyUsage.objects.filter(day__gte=start.date(), day__lt=end.date()).delete()
        DailyUsage.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def roll_up_months() -> tuple[int, int]:
    """Sum every complete month of daily rows not yet in the monthly table; return (months, rows)."""
    daily = watermark(RollupState.DAILY)
    if daily is None:
        return 0, 0
    start = watermark(RollupState.MONTHLY)
    if start is None:
        first = DailyUsage.objects.order_by("day").values_list("day", flat=True).first()
        if first is None:
            return 0, 0
        start = datetime(first.year, first.month, 1, tzinfo=daily.tzinfo)
    end = floor_month(daily)
    if start >= end:
        return 0, 0
    months, moment = 0, start
    while moment < end:
        months, moment = months + 1, next_month(moment)
    with transaction.atomic():
        rows = sum_months(start, end)
        RollupState.objects.update_or_create(name=RollupState.MONTHLY, defaults={"complete_until": end})
    return months, rows


#: What a monthly row is attributed to besides its namespace: a row per month, tier, team, cost center and cluster.
MONTH_KEYS = ["month", "tier_id", "team_id", "cost_center_id", "cluster_id"]


def sum_months(start: datetime, end: datetime) -> int:
    """Replace the monthly rows of [start, end) (whole months) by the sums of their daily rows; return how many.

    The teams' monthly rows of those months are replaced too, by the sums of the new rows,
    in the same transaction.
    """
    days = DailyUsage.objects.filter(day__gte=start.date(), day__lt=end.date())
    months = MonthlyUsage.objects.filter(month__gte=start.date(), month__lt=end.date())
    with transaction.atomic():
        rows = _replace_months(MonthlyUsage, days, ["namespace_id", *MONTH_KEYS], start, end)
        _replace_months(TeamMonthlyUsage, months, MONTH_KEYS, start, end)
    return rows


def _replace_months(model, source, keys: list[str], start: datetime, end: datetime) -> int:
    """`model`'s rows of [start, end) replaced by `source`'s summed per `keys` (`month` among them)."""
    sums = source.values(*keys).annotate(**{f"total_{name}": Sum(name) for name in METRICS}).order_by()
    rows = [
        model(
            **{key: row[key] for key in keys},
            day=row["month"],
            week=week_of(row["month"]),
            **{name: row[f"total_{name}"] for name in METRICS},
        )
        for row in sums.iterator(chunk_size=5000)
    ]
    model.objects.filter(month__gte=start.date(), month__lt=end.date()).delete()
    model.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def restart_from(moment: datetime) -> None:
    """Recompute from `moment` on (e.g. after fixing samples): the state at `moment` is rebuilt from raw samples."""
    start = floor_hour(moment)
    weights = TierCatalog.load().weights
    states: dict[int, NamespaceState] = {}
    rows = UsageSample.objects.filter(time__lt=start).order_by("namespace_id", "time", "id")
    for namespace_id, time, quota, key, hard, used in rows.values_list(
        "namespace_id", "time", "quota_name", "resource", "hard", "used"
    ).iterator(chunk_size=20000):
        states.setdefault(namespace_id, NamespaceState()).apply(Sample(epoch(time), quota, key, hard, used), weights)
    with transaction.atomic():
        save_checkpoints(states)
        RollupState.objects.update_or_create(name=RollupState.HOURLY, defaults={"complete_until": start})
        RollupState.objects.update_or_create(name=RollupState.DAILY, defaults={"complete_until": floor_day(start)})
        RollupState.objects.update_or_create(name=RollupState.MONTHLY, defaults={"complete_until": floor_month(start)})


def kept_history() -> timedelta:
    """How far back raw samples are kept whatever the retention: what pages read, and the sample before it.

    A series' last sample before the oldest moment a page reads says what held then, and it
    may lie up to the maximum gap earlier.
    """
    return UsageSample.READ_BACK + timedelta(seconds=settings.CHARGEBACK_MAX_GAP_SECONDS)


def prune_samples(*, now: datetime | None = None) -> int:
    """Delete raw samples past retention that are rolled up already; return how many."""
    days = settings.CHARGEBACK_RAW_RETENTION_DAYS
    hourly = watermark(RollupState.HOURLY)
    if not days or hourly is None:
        return 0
    cutoff = min((now or timezone.now()) - max(timedelta(days=days), kept_history()), hourly)
    first = UsageSample.objects.filter(time__lt=cutoff).order_by("time").values_list("time", flat=True).first()
    deleted = 0
    while first is not None and first < cutoff:
        step_end = min(floor_day(first) + DAY, cutoff)  # one day per statement keeps each delete short
        deleted += UsageSample.objects.filter(time__lt=step_end).delete()[0]
        first = step_end if step_end < cutoff else None
    logger.info("chargeback.pruned", extra={"samples": deleted, "before": cutoff.isoformat()})
    return deleted
