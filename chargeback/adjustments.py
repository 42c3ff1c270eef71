"""Closed months stay as they were billed: a recomputed hour in one becomes an adjustment in the first open month.

The hourly rollup calls `split_closed_hours` whenever it integrates hours again (after
late samples, or an operator's restart): for each namespace and hour of a closed month
the difference between the new integration and the stored (billed) row is what the
adjustments for that hour must add up to. Adjustments already booked in a closed month
are history too; only those booked in an open month are replaced, so repeating the
rollup books nothing twice.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q

from chargeback.models import METRICS, BillingPeriod, HourlyUsage, UsageAdjustment

ATTRIBUTION = ("tier_id", "team_id", "cost_center_id", "cluster_id")


def closed_months() -> list[date]:
    """First days of the closed months, oldest first."""
    return list(
        BillingPeriod.objects.filter(state=BillingPeriod.State.CLOSED).order_by("month").values_list("month", flat=True)
    )


def month_after(month: date) -> date:
    return (month.replace(day=1) + timedelta(days=32)).replace(day=1)


def closed_until() -> datetime | None:
    """The end of the latest closed month: no late sample before it goes unnoticed."""
    months = closed_months()
    if not months:
        return None
    end = month_after(months[-1])
    return datetime(end.year, end.month, end.day, tzinfo=UTC)


def first_open_month(after: date, closed: set[date]) -> date:
    """The first month after `after`'s that is not closed: where a correction of `after` is booked."""
    month = month_after(after)
    while month in closed:
        month = month_after(month)
    return month


def split_closed_hours(rows: list[HourlyUsage], start: datetime, end: datetime) -> tuple[list[HourlyUsage], Q]:
    """(the rows for open hours, the filter of the closed hours in [start, end)); book the closed ones' differences.

    Runs inside the rollup's transaction, before it replaces the hourly rows of the open hours.
    """
    closed = set(closed_months())
    ranges = [
        (max(start, _moment(month)), min(end, _moment(month_after(month))))
        for month in sorted(closed)
        if _moment(month) < end and start < _moment(month_after(month))
    ]
    if not ranges:
        return rows, Q(pk__in=[])
    in_closed = Q()
    for since, until in ranges:
        in_closed |= Q(hour__gte=since, hour__lt=until)

    def is_closed(hour: datetime) -> bool:
        return any(since <= hour < until for since, until in ranges)

    target: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(METRICS))
    attribution: dict[tuple, tuple] = {}
    for row in rows:
        if is_closed(row.hour):
            key = (row.namespace_id, row.hour)
            target[key] = [getattr(row, name) for name in METRICS]
            attribution[key] = tuple(getattr(row, name) for name in ATTRIBUTION)
    for stored in HourlyUsage.objects.filter(in_closed).values("namespace_id", "hour", *ATTRIBUTION, *METRICS):
        key = (stored["namespace_id"], stored["hour"])
        target[key] = [mine - stored[name] for mine, name in zip(target[key], METRICS, strict=True)]
        attribution[key] = tuple(stored[name] for name in ATTRIBUTION)  # the billed row's: the correction joins it
    booked = UsageAdjustment.objects.filter(in_closed)
    for earlier in booked.filter(booked_month__in=closed).values("namespace_id", "hour", *ATTRIBUTION, *METRICS):
        key = (earlier["namespace_id"], earlier["hour"])
        target[key] = [mine - earlier[name] for mine, name in zip(target[key], METRICS, strict=True)]
        attribution.setdefault(key, tuple(earlier[name] for name in ATTRIBUTION))
    booked.exclude(booked_month__in=closed).delete()
    adjustments = []
    for (namespace_id, hour), values in target.items():
        if any(values):
            day = hour.date()
            adjustments.append(
                UsageAdjustment(
                    namespace_id=namespace_id,
                    hour=hour,
                    day=day,
                    week=day - timedelta(days=day.weekday()),
                    month=day.replace(day=1),
                    booked_month=first_open_month(day.replace(day=1), closed),
                    **dict(zip(ATTRIBUTION, attribution[namespace_id, hour], strict=True)),
                    **dict(zip(METRICS, values, strict=True)),
                )
            )
    UsageAdjustment.objects.bulk_create(adjustments, batch_size=2000)
    return [row for row in rows if not is_closed(row.hour)], in_closed


def _moment(month: date) -> datetime:
    return datetime(month.year, month.month, month.day, tzinfo=UTC)
