"""Budgets: how far each period has gone, where it will end, and the alerts at 80% and 100%, once per crossing.

The forecast for the period's end, as of `now`:

* what is spent so far: the chargeback report of [period start, now), exactly;
* plus guaranteed GPUs, reserved-based and exact: the GPUs the scope's live namespaces
  hold guaranteed now (their approved quotas) x the hours left x each tier's reserved
  GPU price today: a guarantee is billed whether it is used or not, so this part is
  known once the approvals are;
* plus everything else usage-based: burst GPU-hours (and, for money, everything but the
  reserved GPUs: burst GPUs, CPU, memory) at the average rate per hour so far x the
  hours left.

GPU-hours count reserved plus burst used, as the report's columns. Alerts go through
teams.events ("budget.crossed", by the system actor); notifications routes them.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from chargeback.models import Budget, BudgetAlert
from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import next_month
from teams import events
from teams.catalog import PriceList
from teams.models import CostCenter, Rate, Request, Resource, Team, TeamNamespace

THRESHOLDS = (80, 100)
HOUR = Decimal(3600)


@dataclass(frozen=True)
class Forecast:
    budget: Budget
    start: datetime
    end: datetime
    actual_gpu_hours: Decimal
    forecast_gpu_hours: Decimal
    actual_amount: Decimal
    forecast_amount: Decimal

    def percent(self, measure: str, basis: str) -> Decimal | None:
        """Of the budget's limit in `measure` ("gpu_hours" or "amount"); None when the budget has none."""
        limit = getattr(self.budget, measure)
        if limit is None:
            return None
        value = getattr(self, f"{basis}_{measure}")
        return (value * 100 / limit).quantize(Decimal("0.1"))


def period_of(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the month or calendar quarter holding `moment`."""
    month = moment.month if period == Budget.Period.MONTH else 3 * ((moment.month - 1) // 3) + 1
    start = datetime(moment.year, month, 1, tzinfo=UTC)
    end = next_month(start)
    if period == Budget.Period.QUARTER:
        end = next_month(next_month(end))
    return start, end


def forecasts(budgets, *, now: datetime) -> list[Forecast]:
    """The forecast of each budget's current period: one report per period and grouping, not one per budget."""
    system = events.system_actor()
    prices = PriceList()
    today = now.date()
    by_scope: dict[tuple, list[Budget]] = defaultdict(list)
    for budget in budgets:
        by_scope[budget.period, "team" if budget.team_id else "cost_center"].append(budget)
    results = []
    for (period, group_by), members in by_scope.items():
        start, end = period_of(period, now)
        spent = _spent(start, now, group_by, system) if now > start else {}
        elapsed = Decimal(int((now - start).total_seconds())) / HOUR
        left = Decimal(int((end - now).total_seconds())) / HOUR
        guaranteed = _guaranteed(group_by, prices, today)
        for budget in members:
            key = budget.team_id if group_by == "team" else budget.cost_center_id
            hours, burst, cost, reserved_cost = spent.get(key, (Decimal(0),) * 4)
            gpus, gpu_price = guaranteed.get(key, (Decimal(0), Decimal(0)))
            burst_rate = burst / elapsed if elapsed else Decimal(0)
            other_rate = (cost - reserved_cost) / elapsed if elapsed else Decimal(0)
            results.append(
                Forecast(
                    budget=budget,
                    start=start,
                    end=end,
                    actual_gpu_hours=hours,
                    forecast_gpu_hours=(hours + gpus * left + burst_rate * left).quantize(Decimal("0.01")),
                    actual_amount=cost,
                    forecast_amount=(cost + gpu_price * left + other_rate * left).quantize(Decimal("0.01")),
                )
            )
    return results


def _spent(start: datetime, end: datetime, group_by: str, viewer) -> dict:
    """group id -> (GPU-hours reserved + burst, burst GPU-hours, cost, reserved GPU cost) over [start, end)."""
    report = build_report(ReportQuery(start=start, end=end, group_by=group_by), viewer=viewer, now=end)
    ids = _ids(group_by, {row["group"] for row in report["rows"]})
    spent: dict = defaultdict(lambda: [Decimal(0)] * 4)
    for row in report["rows"]:
        totals = spent[ids[row["group"]]]
        burst = Decimal(row["gpu_burst_hours"])
        reserved, cost, reserved_cost = (
            Decimal(row[name]) for name in ("gpu_reserved_hours", "cost_total", "cost_gpu_reserved")
        )
        for index, value in enumerate((reserved + burst, burst, cost, reserved_cost)):
            totals[index] += value
    return {key: tuple(values) for key, values in spent.items()}


def _ids(group_by: str, codes: set[str]) -> dict[str, int]:
    if group_by == "team":
        return dict(Team.objects.filter(slug__in=codes).values_list("slug", "pk"))
    return dict(CostCenter.objects.filter(code__in=codes).values_list("code", "pk"))


def _guaranteed(group_by: str, prices: PriceList, today: date) -> dict:
    """group id -> (guaranteed GPUs now, their reserved price per hour), from the live namespaces' stored counts."""
    field = "team_id" if group_by == "team" else "team__cost_center_id"
    rows = (
        # Across clusters, deliberately: a budget is a team's or cost center's, wherever its GPUs are.
        TeamNamespace.objects.live()
        .filter(guaranteed_gpus__gt=0)
        .values(field, "tier_id", "cluster_id")
        .annotate(gpus=Sum("guaranteed_gpus"))
        .values_list(field, "tier_id", "cluster_id", "gpus")
    )
    guaranteed: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for key, tier_id, cluster_id, gpus in rows:
        guaranteed[key][0] += gpus
        price = prices.price(tier_id, Resource.GPU, Rate.Kind.RESERVED, today, cluster_id=cluster_id)
        guaranteed[key][1] += gpus * price
    return {key: tuple(values) for key, values in guaranteed.items()}


def check_budgets(*, now: datetime) -> int:
    """Record `budget.crossed` for every threshold reached (actual or forecast) not told yet this period."""
    told = 0
    for forecast in forecasts(Budget.objects.select_related("cost_center", "team"), now=now):
        for measure in ("gpu_hours", "amount"):
            for basis in ("actual", "forecast"):
                percent = forecast.percent(measure, basis)
                if percent is None:
                    continue
                for threshold in THRESHOLDS:
                    if percent >= threshold and _tell(forecast, measure, basis, threshold, percent):
                        told += 1
    return told


def _tell(forecast: Forecast, measure: str, basis: str, threshold: int, percent: Decimal) -> bool:
    budget = forecast.budget
    try:
        with transaction.atomic():
            BudgetAlert.objects.create(
                budget=budget, period_start=forecast.start.date(), measure=measure, basis=basis, threshold=threshold
            )
            events.record(
                "budget.crossed",
                actor=events.system_actor(),
                target=f"budget:{budget.pk}",
                after={
                    "cost_center": budget.cost_center.code,
                    "team": budget.team.slug if budget.team_id else None,
                    "period": budget.period,
                    "period_start": forecast.start.date().isoformat(),
                    "measure": measure,
                    "basis": basis,
                    "threshold": threshold,
                    "percent": str(percent),
                    "value": str(getattr(forecast, f"{basis}_{measure}")),
                    "limit": str(getattr(budget, measure)),
                    "currency": settings.CHARGEBACK_CURRENCY,
                },
            )
    except IntegrityError:
        return False  # told already (by an earlier run, or a concurrent one)
    return True


def grant_impacts(changes: list[tuple[Request, Decimal]], *, now: datetime | None = None) -> dict[int, str]:
    """For the approval queue: what each grant (guaranteed GPUs added) does to its budget's GPU-hour forecast.

    The team's own budget if it has one, else its cost center's; the added GPUs count from
    now to the period's end, as the forecast counts guaranteed GPUs.
    """
    now = now or timezone.now()
    teams = {request.team_id for request, _ in changes}
    centers = {request.team.cost_center_id for request, _ in changes}
    candidates = Budget.objects.filter(gpu_hours__isnull=False).filter(
        Q(team_id__in=teams) | Q(team__isnull=True, cost_center_id__in=centers)
    )
    candidates = candidates.select_related("team", "cost_center")
    by_scope = {(budget.team_id or None, budget.cost_center_id): budget for budget in candidates}
    if not by_scope:
        return {}
    forecast_of = {forecast.budget.pk: forecast for forecast in forecasts(list(by_scope.values()), now=now)}
    impacts = {}
    for request, added_gpus in changes:
        budget = by_scope.get((request.team_id, request.team.cost_center_id)) or by_scope.get(
            (None, request.team.cost_center_id)
        )
        if budget is None:
            continue
        forecast = forecast_of[budget.pk]
        added = (added_gpus * Decimal(int((forecast.end - now).total_seconds())) / HOUR).quantize(Decimal(1))
        percent = ((forecast.forecast_gpu_hours + added) * 100 / budget.gpu_hours).quantize(Decimal(1))
        name = budget.team.name if budget.team_id else budget.cost_center.name
        impacts[request.pk] = (
            f"this grant adds {added:,} GPU-hours this {budget.period}, forecast {percent}% of the {name} budget"
        )
    return impacts
