"""The chargeback report: rolled-up usage summed in SQL, priced in Python, per group and period.

A report covers [start, end) in UTC, clipped to what is rolled up (`complete_until`):
whole days come from the daily table, the hours around them from the hourly table, and
raw samples are never read. Sums are exact integers; hours and money are rounded once,
at the end: hours to 6 decimals, each row's costs to CHARGEBACK_COST_DECIMALS (half to
even), and totals are the sums of the rounded rows, as on an invoice.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, Sum, Value, When

from chargeback.models import DailyUsage, HourlyUsage, RollupState
from chargeback.rates import Kind, RateTable
from chargeback.rollups import DAY, floor_day, watermark
from teams.models import CostCenter, GpuTier, Team, TeamNamespace

GROUPS = ("cost_center", "team", "namespace", "tier")
STEPS = ("day", "week", "month")
#: Sums of byte-seconds can pass 2^63 over a year; they are summed in two exact halves.
SPLIT = 2**30
SPLIT_METRICS = ("memory_reserved", "memory_used", "memory_burst")
PLAIN_METRICS = (
    "gpu_reserved",
    "gpu_limit",
    "gpu_used",
    "gpu_burst",
    "gpu_unknown",
    "gpu_used_unknown",
    "cpu_reserved",
    "cpu_used",
    "cpu_burst",
    "cpu_unknown",
    "cpu_used_unknown",
    "memory_unknown",
    "memory_used_unknown",
)
#: unit-seconds per unit-hour shown.
DIVISOR = {"gpu": Decimal(3_600_000), "cpu": Decimal(3_600_000), "memory": Decimal(3600 * 2**30)}
UNIT = {"gpu": "hours", "cpu": "core_hours", "memory": "gib_hours"}
HOURS = Decimal("0.000001")
RATIO = Decimal("0.0001")

COLUMNS = [
    "group",
    "group_name",
    "cost_center",
    "period_start",
    "period_end",
    "gpu_reserved_hours",
    "gpu_limit_hours",
    "gpu_used_hours",
    "gpu_burst_hours",
    "gpu_idle_hours",
    "gpu_utilization",
    "gpu_unknown_hours",
    "gpu_used_unknown_hours",
    "cpu_reserved_core_hours",
    "cpu_used_core_hours",
    "cpu_burst_core_hours",
    "cpu_idle_core_hours",
    "cpu_utilization",
    "cpu_unknown_hours",
    "cpu_used_unknown_hours",
    "memory_reserved_gib_hours",
    "memory_used_gib_hours",
    "memory_burst_gib_hours",
    "memory_idle_gib_hours",
    "memory_utilization",
    "memory_unknown_hours",
    "memory_used_unknown_hours",
    "cost_gpu_reserved",
    "cost_gpu_burst",
    "cost_cpu_reserved",
    "cost_cpu_burst",
    "cost_memory_reserved",
    "cost_memory_burst",
    "cost_total",
    "currency",
]
COST_COLUMNS = [column for column in COLUMNS if column.startswith("cost_") and column != "cost_center"]


@dataclass(frozen=True)
class ReportQuery:
    start: datetime
    end: datetime
    group_by: str = "cost_center"
    step: str | None = None
    #: Only this cost center (its code), or every one.
    cost_center: str | None = None


def build_report(query: ReportQuery) -> dict:
    """The report as a JSON-ready dict: rows sorted by cost center, group and period, and totals."""
    complete_until = watermark(RollupState.HOURLY)
    end = min(query.end, complete_until) if complete_until else query.start
    sums = _sums(query, end) if end > query.start else []
    rows = _rows(query, end, sums)
    return {
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "complete_until": complete_until.isoformat() if complete_until else None,
        "group_by": query.group_by,
        "step": query.step,
        "cost_center": query.cost_center,
        "currency": settings.CHARGEBACK_CURRENCY,
        "columns": COLUMNS,
        "rows": rows,
        "totals": _totals(rows),
    }


def _sums(query: ReportQuery, end: datetime) -> list[dict]:
    """One dict per (group, cost center, tier, bucket, rate segment): integer sums from SQL."""
    daily_until = watermark(RollupState.DAILY) or query.start
    first_day = _ceil_day(query.start)
    last_day = min(floor_day(end), floor_day(daily_until))
    rates = RateTable(GpuTier.objects.values_list("pk", flat=True))
    change_days = rates.change_days(query.start.date(), end.date() + DAY)
    parts: list = []
    if first_day < last_day:
        parts.append(DailyUsage.objects.filter(day__gte=first_day.date(), day__lt=last_day.date()))
        hours = Q(hour__gte=query.start, hour__lt=first_day) | Q(hour__gte=last_day, hour__lt=end)
    else:
        hours = Q(hour__gte=query.start, hour__lt=end)
    parts.append(HourlyUsage.objects.filter(hours))
    keys = _keys(query)
    results: list[dict] = []
    for queryset in parts:
        if query.cost_center:
            queryset = queryset.filter(cost_center__code=query.cost_center)
        if change_days:
            queryset = queryset.annotate(segment=_segment(change_days))
        grouped = queryset.values(*keys, *(["segment"] if change_days else [])).annotate(**_aggregates()).order_by()
        for row in grouped:
            row["segment_day"] = change_days[row["segment"] - 1] if change_days and row["segment"] else None
            row["rates"] = rates
            results.append(row)
    return results


def _keys(query: ReportQuery) -> list[str]:
    keys = [f"{query.group_by}_id", "tier_id"]
    if query.group_by in ("team", "namespace"):
        keys.append("cost_center_id")  # a team moved to another cost center bills each part to its own
    if query.step:
        keys.append(query.step)
    return list(dict.fromkeys(keys))


def _segment(change_days: list[date]) -> Case:
    """Which rate period a row's day falls in: 0 before the first price change, then 1, 2..."""
    return Case(
        *(When(day__gte=day, then=Value(index)) for index, day in reversed(list(enumerate(change_days, start=1)))),
        default=Value(0),
        output_field=IntegerField(),
    )


def _aggregates() -> dict:
    aggregates = {f"sum_{name}": Sum(name) for name in PLAIN_METRICS}
    for name in SPLIT_METRICS:
        aggregates[f"high_{name}"] = Sum(F(name) / Value(SPLIT))
        aggregates[f"low_{name}"] = Sum(F(name) % Value(SPLIT))
    return aggregates


def _rows(query: ReportQuery, end: datetime, sums: list[dict]) -> list[dict]:
    group_field = f"{query.group_by}_id"
    accumulated: dict[tuple, dict] = {}
    with localcontext() as context:
        context.prec = 50
        for row in sums:
            key = (row[group_field], row.get("cost_center_id"), row.get(query.step) if query.step else None)
            totals = accumulated.get(key)
            if totals is None:
                totals = accumulated[key] = {name: 0 for name in (*PLAIN_METRICS, *SPLIT_METRICS)}
                totals["costs"] = defaultdict(Decimal)
            values = {name: row[f"sum_{name}"] or 0 for name in PLAIN_METRICS}
            for name in SPLIT_METRICS:
                values[name] = (row[f"high_{name}"] or 0) * SPLIT + (row[f"low_{name}"] or 0)
            for name, value in values.items():
                totals[name] += value
            period_start = _bucket_start(query, row)
            day = row["segment_day"] or max(period_start, query.start).date()
            for resource in ("gpu", "cpu", "memory"):
                for kind, metric in ((Kind.RESERVED, "reserved"), (Kind.BURST, "burst")):
                    price = row["rates"].price(row["tier_id"], resource, kind, day)
                    if price and values[f"{resource}_{metric}"]:
                        cost = Decimal(values[f"{resource}_{metric}"]) * price / DIVISOR[resource]
                        totals["costs"][f"cost_{resource}_{metric}"] += cost
    labels = _labels(query.group_by, {key[0] for key in accumulated})
    centers = _labels("cost_center", {key[1] for key in accumulated if key[1] is not None})
    rows = []
    for (group_id, center_id, bucket), totals in accumulated.items():
        period_start = max(_as_datetime(bucket), query.start) if bucket else query.start
        period_end = min(_next_bucket(query.step, _as_datetime(bucket)), end) if bucket else end
        code, name = labels.get(group_id, (str(group_id), ""))
        rows.append(
            {
                "group": code,
                "group_name": name,
                "cost_center": centers[center_id][0] if center_id else "",
                "period_start": period_start.isoformat(),
                "period_end": period_end.isoformat(),
                **_measures(totals),
                **_costs(totals["costs"]),
                "currency": settings.CHARGEBACK_CURRENCY,
            }
        )
    rows.sort(key=lambda row: (row["cost_center"], row["group"], row["group_name"], row["period_start"]))
    return rows


def _measures(totals: dict) -> dict:
    result = {}
    for resource in ("gpu", "cpu", "memory"):
        unit = UNIT[resource]
        reserved, used, burst = (totals[f"{resource}_{name}"] for name in ("reserved", "used", "burst"))
        used_in_reserved = used - burst
        result[f"{resource}_reserved_{unit}"] = _hours(reserved, resource)
        if resource == "gpu":
            result["gpu_limit_hours"] = _hours(totals["gpu_limit"], resource)
        result[f"{resource}_used_{unit}"] = _hours(used, resource)
        result[f"{resource}_burst_{unit}"] = _hours(burst, resource)
        result[f"{resource}_idle_{unit}"] = _hours(max(reserved - used_in_reserved, 0), resource)
        result[f"{resource}_utilization"] = (
            str((Decimal(used_in_reserved) / Decimal(reserved)).quantize(RATIO, ROUND_HALF_EVEN)) if reserved else None
        )
        result[f"{resource}_unknown_hours"] = _seconds(totals[f"{resource}_unknown"])
        result[f"{resource}_used_unknown_hours"] = _seconds(totals[f"{resource}_used_unknown"])
    return result


def _costs(costs: dict) -> dict:
    places = Decimal(1).scaleb(-settings.CHARGEBACK_COST_DECIMALS)
    rounded = {
        column: costs.get(column, Decimal(0)).quantize(places, ROUND_HALF_EVEN)
        for column in COST_COLUMNS
        if column != "cost_total"
    }
    rounded["cost_total"] = sum(rounded.values(), Decimal(0)).quantize(places)
    return {column: str(value) for column, value in rounded.items()}


def _totals(rows: list[dict]) -> dict:
    """Column sums of the rows (hours and rounded costs); utilization recomputed from the sums."""
    totals: dict = {}
    for column in COLUMNS[5:-1]:
        if column.endswith("_utilization"):
            continue
        totals[column] = str(sum((Decimal(row[column]) for row in rows), Decimal(0)))
    for resource in ("gpu", "cpu", "memory"):
        unit = UNIT[resource]
        reserved = Decimal(totals[f"{resource}_reserved_{unit}"])
        in_reserved = Decimal(totals[f"{resource}_used_{unit}"]) - Decimal(totals[f"{resource}_burst_{unit}"])
        totals[f"{resource}_utilization"] = (
            str((in_reserved / reserved).quantize(RATIO, ROUND_HALF_EVEN)) if reserved else None
        )
    return {column: totals[column] for column in COLUMNS[5:-1]}


def _hours(unit_seconds: int, resource: str) -> str:
    return str((Decimal(unit_seconds) / DIVISOR[resource]).quantize(HOURS, ROUND_HALF_EVEN))


def _seconds(seconds: int) -> str:
    return str((Decimal(seconds) / 3600).quantize(HOURS, ROUND_HALF_EVEN))


def _labels(group_by: str, ids: set) -> dict:
    """id -> (code, name) for the groups present."""
    ids = {pk for pk in ids if pk is not None}
    if group_by == "namespace":
        rows = TeamNamespace.objects.filter(pk__in=ids).values_list("pk", "name", "team__slug")
        return {pk: (name, f"{name} ({team})") for pk, name, team in rows}
    model, code = {"cost_center": (CostCenter, "code"), "team": (Team, "slug"), "tier": (GpuTier, "slug")}[group_by]
    return {pk: (slug, name) for pk, slug, name in model.objects.filter(pk__in=ids).values_list("pk", code, "name")}


def _bucket_start(query: ReportQuery, row: dict) -> datetime:
    return _as_datetime(row[query.step]) if query.step else query.start


def _as_datetime(day: date | datetime) -> datetime:
    if isinstance(day, datetime):
        return day
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_bucket(step: str, start: datetime) -> datetime:
    if step == "day":
        return start + DAY
    if step == "week":
        return start + timedelta(days=7)
    return (start.replace(day=1) + timedelta(days=32)).replace(day=1)


def _ceil_day(moment: datetime) -> datetime:
    day = floor_day(moment)
    return day if day == moment else day + DAY
