"""Finance's month-end: closing a month of chargeback, and reopening it, each one audited event.

Closing stores the month's report by namespace as it stands (who, when, every row) and
freezes the month's rollup rows: later samples for it become adjustments in the first
open month (chargeback.adjustments), and the tier catalog refuses any rate that would
price a day of it differently (registered in ChargebackConfig.ready). Reopening folds the
adjustments booked in open months back into the month and shows what changed since closing.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from chargeback.adjustments import closed_months, month_after
from chargeback.models import METRICS, BillingPeriod, HourlyUsage, RollupState, UsageAdjustment
from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import sum_days, sum_months, watermark
from teams import events, roles
from teams.models import Cluster

#: The totals an audit row and the difference show: hours and money.
SUMMARY = ("gpu_reserved_hours", "gpu_used_hours", "gpu_burst_hours", "cost_total")


def month_report(month: date, *, viewer, group_by: str = "namespace") -> dict:
    start = _moment(month)
    return build_report(ReportQuery(start=start, end=_moment(month_after(month)), group_by=group_by), viewer=viewer)


def close_period(month: date, *, actor, now: datetime | None = None) -> BillingPeriod:
    """Close `month` (any day of it): refused unless it is over and rolled up to its end, and open."""
    roles.require_finance(actor)
    month = month.replace(day=1)
    rolled = watermark(RollupState.MONTHLY)
    if rolled is None or rolled < _moment(month_after(month)):
        shown = f"{rolled:%B %Y}" if rolled else "no month yet"
        raise ValidationError(
            {"month": f"{month:%B %Y} can be closed once it is over and rolled up; complete months end before {shown}."}
        )
    with transaction.atomic():
        period, _ = BillingPeriod.objects.select_for_update().get_or_create(month=month)
        if period.state == BillingPeriod.State.CLOSED:
            raise ValidationError({"month": f"{month:%B %Y} is closed already ({_closed_by(period)})."})
        report = month_report(month, viewer=actor)
        period.snapshot = {"rows": report["rows"], "totals": report["totals"], "currency": report["currency"]}
        period.state = BillingPeriod.State.CLOSED
        period.closed_at = now or timezone.now()
        period.closed_by = actor
        period.save()
        events.record(
            "period.closed",
            actor=actor,
            target=f"period:{month:%Y-%m}",
            after={name: report["totals"][name] for name in SUMMARY},
        )
    return period


def reopen_period(month: date, *, actor, now: datetime | None = None) -> BillingPeriod:
    """Reopen a closed month: its adjustments come home, and the audit row holds the totals before and after."""
    roles.require_finance(actor)
    month = month.replace(day=1)
    with transaction.atomic():
        period = BillingPeriod.objects.select_for_update().filter(month=month).first()
        if period is None or period.state != BillingPeriod.State.CLOSED:
            raise ValidationError({"month": f"{month:%B %Y} is not closed."})
        closed = set(closed_months()) - {month}
        corrections = UsageAdjustment.objects.filter(month=month, booked_month__in=closed)
        held = sorted(set(corrections.values_list("booked_month", flat=True)))
        if held:
            raise ValidationError(
                {
                    "month": f"Corrections of {month:%B %Y} are billed in {', '.join(f'{m:%B %Y}' for m in held)}, "
                    "which is closed: reopen that month first."
                }
            )
        _fold_adjustments(month)
        period.state = BillingPeriod.State.OPEN
        period.reopened_at = now or timezone.now()
        period.reopened_by = actor
        period.save()
        totals = month_report(month, viewer=actor)["totals"]
        events.record(
            "period.reopened",
            actor=actor,
            target=f"period:{month:%Y-%m}",
            before={name: period.snapshot.get("totals", {}).get(name) for name in SUMMARY},
            after={name: totals[name] for name in SUMMARY},
        )
    return period


@dataclass(frozen=True)
class Change:
    """One namespace's row at closing and now (either may be missing), in the summary columns."""

    namespace: str
    cluster: str
    cost_center: str
    at_closing: dict
    now: dict

    @property
    def differences(self) -> dict:
        return {name: Decimal(self.now.get(name) or 0) - Decimal(self.at_closing.get(name) or 0) for name in SUMMARY}


def changes_since_closing(period: BillingPeriod, *, viewer) -> list[Change]:
    """Rows whose hours or money differ between the stored report and the month's report now.

    A namespace is its cluster and name; a row stored before reports named clusters is the
    default cluster's, where every namespace was then.
    """
    default = Cluster.objects.get_default().name

    def by_namespace(rows: list[dict]) -> dict[tuple[str, str], dict]:
        return {(row.get("cluster") or default, row["group"]): row for row in rows}

    stored = by_namespace(period.snapshot.get("rows", []))
    current = by_namespace(month_report(period.month, viewer=viewer)["rows"])
    changes = []
    for cluster, name in sorted(stored.keys() | current.keys()):
        before, after = stored.get((cluster, name), {}), current.get((cluster, name), {})
        if any(before.get(column) != after.get(column) for column in SUMMARY):
            center = (after or before).get("cost_center", "")
            changes.append(Change(name, cluster, center, before, after))
    return changes


def _fold_adjustments(month: date) -> None:
    """Add the month's adjustments to its hourly rows, sum its days and month again, and drop them."""
    start, end = _moment(month), _moment(month_after(month))
    adjustments = list(UsageAdjustment.objects.filter(month=month))
    if not adjustments:
        return
    stored = {
        (row.namespace_id, row.hour): row
        for row in HourlyUsage.objects.filter(
            hour__gte=start, hour__lt=end, namespace_id__in={adjustment.namespace_id for adjustment in adjustments}
        )
    }
    changed, created = {}, []
    for adjustment in adjustments:
        row = stored.get((adjustment.namespace_id, adjustment.hour))
        if row is None:
            row = stored[adjustment.namespace_id, adjustment.hour] = HourlyUsage(
                namespace_id=adjustment.namespace_id,
                hour=adjustment.hour,
                day=adjustment.day,
                week=adjustment.week,
                month=adjustment.month,
                tier_id=adjustment.tier_id,
                team_id=adjustment.team_id,
                cost_center_id=adjustment.cost_center_id,
                cluster_id=adjustment.cluster_id,
                **{name: 0 for name in METRICS},
            )
            created.append(row)
        elif row.pk not in changed:
            changed[row.pk] = row
        for name in METRICS:
            setattr(row, name, getattr(row, name) + getattr(adjustment, name))
    HourlyUsage.objects.bulk_update(list(changed.values()), METRICS, batch_size=2000)
    HourlyUsage.objects.bulk_create(created, batch_size=2000)
    UsageAdjustment.objects.filter(pk__in=[adjustment.pk for adjustment in adjustments]).delete()
    sum_days(start, end)
    sum_months(start, end)


def _closed_by(period: BillingPeriod) -> str:
    who = period.closed_by.get_username() if period.closed_by else "someone"
    return f"by {who} on {period.closed_at:%Y-%m-%d %H:%M} UTC" if period.closed_at else f"by {who}"


def _moment(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
