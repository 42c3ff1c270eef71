"""The chargeback report: rolled-up usage summed in SQL, priced in Python, per group and period.

A report covers [start, end) in UTC. Up to what is rolled up (`complete_until`) whole
months come from a monthly table (unless a price changes inside them): the teams' one
unless the report is by namespace, so that a year by cost center grows with teams, not
namespaces. Whole days come from the daily table and the hours around them from the
hourly table; past it, up to now, the same integration the rollup runs sums the raw
samples in memory: that part is provisional (`provisional_until`), final once the hourly
rollup passes it.
Every row is priced at its tier's rates on its own cluster, whatever it is grouped by.
Sums are exact integers; hours and money are rounded once, at the end, in integer
arithmetic: hours to 6 decimals and each row's costs to CHARGEBACK_COST_DECIMALS (half
to even). Totals take hours from the exact sums and costs as the sum of the rows' rounded
costs, as on an invoice.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate, repeat
from operator import add, mul, sub

from django.conf import settings
from django.db import connection
from django.db.models import Case, F, IntegerField, Q, Sum, Value, When
from django.utils import timezone

from chargeback.models import DailyUsage, HourlyUsage, MonthlyUsage, RollupState, TeamMonthlyUsage, UsageAdjustment
from chargeback.rollups import (
    DAY,
    floor_day,
    floor_hour,
    floor_month,
    integrate_hours,
    live_namespaces,
    load_checkpoints,
    next_month,
)
from provisioning.models import UsageSample
from teams.catalog import PriceList
from teams.limits import MAX_REPORT_DAYS, MAX_REPORT_PERIODS
from teams.models import Cluster, CostCenter, GpuTier, Rate, Team, TeamNamespace

GROUPS = ("cost_center", "team", "namespace", "tier", "cluster")
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
#: unit-seconds per unit-hour shown: milli-GPU-seconds per GPU-hour, byte-seconds per GiB-hour.
DIVISOR_INT = {"gpu": 3_600_000, "cpu": 3_600_000, "memory": 3600 * 2**30}
UNIT = {"gpu": "hours", "cpu": "core_hours", "memory": "gib_hours"}

COLUMNS = [
    "group",
    "group_name",
    "cost_center",
    # The row's cluster when it has one: grouped by cluster or namespace, or filtered to a cluster; else empty.
    "cluster",
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
    # What the idle reserved GPU-hours (gpu_idle_hours) cost at the reserved rate: part of cost_gpu_reserved,
    # not added to cost_total; the downsize proposals' evidence (chargeback.idle).
    "cost_gpu_idle",
    "currency",
    "line",
    "adjusts",
]
#: A row's `line`: what was used in the period, or a correction of a closed month (`adjusts`: YYYY-MM).
USAGE_LINE, ADJUSTMENT_LINE = "usage", "adjustment"
COST_COLUMNS = [column for column in COLUMNS if column.startswith("cost_") and column != "cost_center"]


@dataclass(frozen=True)
class ReportQuery:
    start: datetime
    end: datetime
    group_by: str = "cost_center"
    step: str | None = None
    #: Only this cost center (its code), or every one.
    cost_center: str | None = None
    #: Only this cluster (its name), or every one.
    cluster: str | None = None
    #: One row per tier too, each with a `tier` (its slug): the FOCUS export prices each row by one SKU.
    split_tiers: bool = False


def build_report(query: ReportQuery, *, viewer, now: datetime | None = None) -> dict:
    """The report as a JSON-ready dict: rows sorted by cost center, group and period, and totals.

    Only the usage `viewer` may see is summed (UsageTotals' and TeamNamespace's visible_to).
    """
    watermarks = dict(RollupState.objects.values_list("name", "complete_until"))
    complete_until = watermarks.get(RollupState.HOURLY)
    rolled_end = max(min(query.end, complete_until), query.start) if complete_until else query.start
    now = (now or timezone.now()).replace(microsecond=0)
    data_end = max(min(query.end, now), rolled_end)
    sums, keys, prices, change_days = _sums(query, viewer, rolled_end, watermarks, data_end)
    if data_end > rolled_end:
        sums += _provisional_sums(query, viewer, complete_until, data_end, keys, change_days)
    rows, totals = _rows(query, data_end, sums, keys, prices, change_days) if sums else ([], _Totals())
    adjustments = _adjustment_rows(query, viewer, prices)
    if adjustments:
        for adjustment_rows, adjustment_totals in adjustments:
            rows += adjustment_rows
            totals.add_row(adjustment_totals)
        rows.sort(key=_row_order)
    return {
        "start": query.start.isoformat(),
        "end": query.end.isoformat(),
        "complete_until": complete_until.isoformat() if complete_until else None,
        "provisional_until": data_end.isoformat() if data_end > rolled_end else None,
        "group_by": query.group_by,
        "step": query.step,
        "cost_center": query.cost_center,
        "cluster": query.cluster,
        "currency": settings.CHARGEBACK_CURRENCY,
        "columns": COLUMNS,
        "rows": rows,
        "totals": totals.as_columns(settings.CHARGEBACK_COST_DECIMALS),
    }


def _provisional_sums(
    query: ReportQuery, viewer, complete_until: datetime | None, end: datetime, keys: list[str], change_days
) -> list[tuple]:
    """Rows shaped like `_sums`' SQL rows, for [max(start, watermark), end), integrated from raw samples.

    Integration starts at the watermark, from the checkpointed state there (or at the first
    sample when nothing is rolled up yet), so a series' value carries in exactly as the
    rollup would carry it; hours before the report's start are dropped.
    """
    visible = TeamNamespace.objects.visible_to(viewer)
    if query.cluster:
        visible = visible.filter(cluster__name=query.cluster)
    namespaces = live_namespaces(visible, complete_until or query.start)
    if query.cost_center:
        namespaces = {pk: ns for pk, ns in namespaces.items() if ns.team.cost_center.code == query.cost_center}
    if complete_until is None:
        first = UsageSample.objects.filter(time__lt=end).order_by("time").values_list("time", flat=True).first()
        if first is None:
            return []
        since, states = floor_hour(first), {}
    else:
        since, states = complete_until, load_checkpoints(namespaces)
    summed: dict[tuple, list[int]] = {}
    for row in integrate_hours(namespaces, states, since, end):
        if row.hour < query.start:
            continue
        attributes = {
            "cost_center_id": row.cost_center_id,
            "team_id": row.team_id,
            "namespace_id": row.namespace_id,
            "tier_id": row.tier_id,
            "cluster_id": row.cluster_id,
            "day": row.day,
            "week": row.week,
            "month": row.month,
            "segment": sum(1 for day in change_days if day <= row.day),
        }
        values = [getattr(row, name) for name in SUMMED]
        key = tuple(attributes[name] for name in keys)
        if key in summed:
            summed[key] = [mine + theirs for mine, theirs in zip(summed[key], values, strict=True)]
        else:
            summed[key] = values
    plain = len(PLAIN_METRICS)
    results = []
    for key, values in summed.items():
        split = [part for value in values[plain:] for part in divmod(value, SPLIT)]
        results.append((*key, *values[:plain], *split))
    return results


def _adjustment_rows(query: ReportQuery, viewer, prices: PriceList) -> list[tuple[list, "_Totals"]]:
    """Corrections of closed months booked in the report's range: (rows, totals) per month corrected and booked.

    Booked on the first day of a month, they fall in the period holding that day; each is
    priced at the rates of the hours it corrects, as the closed month's own rows were.
    """
    booked = UsageAdjustment.objects.visible_to(viewer).filter(
        booked_month__gte=_ceil_day(query.start).date(), booked_month__lt=_ceil_day(query.end).date()
    )
    if query.cost_center:
        booked = booked.filter(cost_center__code=query.cost_center)
    if query.cluster:
        booked = booked.filter(cluster__name=query.cluster)
    if not booked.exists():  # most reports book none: a cheap query instead of compiling the aggregate
        return []
    keys = _keys(ReportQuery(start=query.start, end=query.end, group_by=query.group_by))
    aggregates = _aggregates()
    sql, params = (
        booked.values(*keys, "month", "booked_month", "day")
        .annotate(**aggregates)
        .order_by()
        .values_list(*keys, "month", "booked_month", "day", *aggregates)
        .query.sql_with_params()
    )
    fetched = _fetch(sql, params)
    parts: dict[tuple, list] = {}
    for row in fetched:
        usage_month, booked_month, day = (_as_datetime(value).date() for value in row[len(keys) : len(keys) + 3])
        parts.setdefault((usage_month, booked_month), []).append((row[: len(keys)], day, row[len(keys) + 3 :]))
    results = []
    for (usage_month, booked_month), part in sorted(parts.items()):
        since = _as_datetime(usage_month)
        usage = ReportQuery(
            start=since,
            end=next_month(since),
            group_by=query.group_by,
            cluster=query.cluster,
            split_tiers=query.split_tiers,
        )
        change_days = prices.change_days(usage_month, usage.end.date())
        segments = [(sum(1 for change in change_days if change <= day),) if change_days else () for _, day, _ in part]
        sums = [(*key, *segment, *values) for (key, _, values), segment in zip(part, segments, strict=True)]
        rows, totals = _rows(usage, usage.end, sums, keys + (["segment"] if change_days else []), prices, change_days)
        booked_at = _as_datetime(booked_month)
        if query.step:
            bucket = _bucket_start(query.step, booked_at)
            period = (max(bucket, query.start), min(_next_bucket(query.step, bucket), query.end))
        else:
            period = (query.start, query.end)
        for row in rows:
            row.update(
                period_start=period[0].isoformat(),
                period_end=period[1].isoformat(),
                line=ADJUSTMENT_LINE,
                adjusts=f"{usage_month:%Y-%m}",
            )
        results.append((rows, totals))
    return results


def _bucket_start(step: str, moment: datetime) -> datetime:
    day = floor_day(moment)
    if step == "week":
        return day - timedelta(days=day.weekday())
    if step == "month":
        return day.replace(day=1)
    return day


def _row_order(row: dict) -> tuple:
    return (
        row["cost_center"],
        row["group"],
        row["group_name"],
        row["cluster"],
        row["period_start"],
        row["line"],
        row["adjusts"],
        row.get("tier", ""),
    )


def bounds_problem(start: datetime, end: datetime, step: str | None) -> tuple[str, str] | None:
    """(field, message) when a report would span more days or periods than teams.limits allows, else None.

    A century at daily steps is tens of thousands of rows per group: it is refused, not computed.
    """
    if end - start > timedelta(days=MAX_REPORT_DAYS):
        return "end", f"A report spans at most {MAX_REPORT_DAYS} days; this one spans {(end - start).days}."
    if step:
        periods, moment = 0, floor_day(start)
        while moment < end and periods <= MAX_REPORT_PERIODS:
            periods, moment = periods + 1, _next_bucket(step, moment)
        if periods > MAX_REPORT_PERIODS:
            message = f"A report has at most {MAX_REPORT_PERIODS} periods; choose a longer step or a shorter range."
            return "step", message
    return None


#: The integer sums of one group and period, in this order.
SUMMED = (*PLAIN_METRICS, *SPLIT_METRICS)
#: (cost column, resource, rate kind, summed metric)
PRICED = [
    (f"cost_{resource}_{metric}", resource, kind, SUMMED.index(f"{resource}_{metric}"))
    for resource in ("gpu", "cpu", "memory")
    for kind, metric in ((Rate.Kind.RESERVED, "reserved"), (Rate.Kind.BURST, "burst"))
]
#: Prices have 6 decimals (Rate.price): costs are summed as integers of unit-seconds x micro-units.
PRICE_SCALE = 10**6
#: Where idle reserved GPU time and its price are, for cost_gpu_idle.
GPU_RESERVED, GPU_USED, GPU_BURST = (SUMMED.index(name) for name in ("gpu_reserved", "gpu_used", "gpu_burst"))
RESERVED_GPU_PRICE = [column for column, *_ in PRICED].index("cost_gpu_reserved")


def _sums(
    query: ReportQuery, viewer, end: datetime, watermarks: dict, data_end: datetime
) -> tuple[list[tuple], list[str], PriceList, list[date]]:
    """Rows of (group keys..., segment?, sums...) from SQL, one per group, tier, bucket and rate period.

    [start, end) is what is rolled up; `data_end` (at or after `end`) bounds the rate periods.
    """
    prices = PriceList()
    change_days = prices.change_days(query.start.date(), data_end.date() + DAY)
    keys = _keys(query) + (["segment"] if change_days else [])
    if end <= query.start:
        return [], keys, prices, change_days
    plan = _plan(query, end, watermarks, change_days)
    parts: list = []
    if plan.months:
        months = Q()
        for since, until in plan.months:
            months |= Q(month__gte=since.date(), month__lt=until.date())
        monthly = MonthlyUsage if query.group_by == "namespace" else TeamMonthlyUsage
        parts.append(monthly.objects.visible_to(viewer).filter(months))
    if plan.days:
        days = Q()
        for since, until in plan.days:
            days |= Q(day__gte=since.date(), day__lt=until.date())
        parts.append(DailyUsage.objects.visible_to(viewer).filter(days))
    if plan.hours:
        hours = Q()
        for since, until in plan.hours:
            hours |= Q(hour__gte=since, hour__lt=until)
        parts.append(HourlyUsage.objects.visible_to(viewer).filter(hours))
    aggregates = _aggregates()
    statements = []
    for queryset in parts:
        if query.cost_center:
            queryset = queryset.filter(cost_center__code=query.cost_center)
        if query.cluster:
            queryset = queryset.filter(cluster__name=query.cluster)
        if change_days:
            queryset = queryset.annotate(segment=_segment(change_days))
        grouped = queryset.values(*keys).annotate(**aggregates).order_by().values_list(*keys, *aggregates)
        statements.append(grouped.query.sql_with_params())
    if len(statements) == 1:
        sql, params = statements[0]
    else:
        # Months, days and the hours around them, summed together by the database: one row per group.
        columns = ", ".join(keys)
        totals = ", ".join(f"SUM({name})" for name in aggregates)
        union = " UNION ALL ".join(
            f"SELECT * FROM ({part}) AS part_{index}" for index, (part, _) in enumerate(statements)
        )
        sql = f"SELECT {columns}, {totals} FROM ({union}) AS parts GROUP BY {columns}"
        params = tuple(param for _, part_params in statements for param in part_params)
    return _fetch(sql, params), keys, prices, change_days


def _fetch(sql: str, params) -> list[tuple]:
    """The rows of the ORM's SQL, read straight from the cursor, every sum a Python int.

    PostgreSQL's SUM(bigint) is an exact numeric; it is always whole here, so it is loaded
    as an int (in C) rather than as a Decimal converted in Python: a third of a year report
    by team's time otherwise.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg.types.numeric import IntLoader

            cursor.cursor.adapters.register_loader("numeric", IntLoader)
        cursor.execute(sql, params)
        return list(cursor.fetchall())


@dataclass
class _Plan:
    """Which rollup table covers which part of [start, end): [since, until) ranges per table."""

    months: list[tuple[datetime, datetime]]
    days: list[tuple[datetime, datetime]]
    hours: list[tuple[datetime, datetime]]


def _plan(query: ReportQuery, end: datetime, watermarks: dict, change_days: list[date]) -> _Plan:
    """The coarsest rows that sum to exactly the same totals: whole months, then whole days, then hours.

    A month is read from the monthly table when it is rolled up, lies inside the report, the
    report has no daily or weekly step, and no price changes inside it (a change on the 1st
    starts a rate period with the month, so its rows still fall into one period).
    """
    monthly_until = watermarks.get(RollupState.MONTHLY)
    daily_until = watermarks.get(RollupState.DAILY) or query.start
    plan = _Plan([], [], [])
    if monthly_until and query.step in (None, "month"):
        month = floor_month(query.start)
        if month < query.start:
            month = next_month(month)
        while next_month(month) <= min(end, monthly_until):
            following = next_month(month)
            if not any(month.date() < day < following.date() for day in change_days):
                if plan.months and plan.months[-1][1] == month:
                    plan.months[-1] = (plan.months[-1][0], following)
                else:
                    plan.months.append((month, following))
            month = following
    remainder, cursor = [], query.start
    for since, until in plan.months:
        if cursor < since:
            remainder.append((cursor, since))
        cursor = until
    if cursor < end:
        remainder.append((cursor, end))
    for since, until in remainder:
        first_day, last_day = _ceil_day(since), min(floor_day(until), floor_day(daily_until))
        if first_day < last_day:
            plan.days.append((first_day, last_day))
            plan.hours += [(a, b) for a, b in ((since, first_day), (last_day, until)) if a < b]
        else:
            plan.hours.append((since, until))
    return plan


def _keys(query: ReportQuery) -> list[str]:
    """The SQL GROUP BY: the group, then what prices a row (its tier and cluster), then what splits rows."""
    keys = [f"{query.group_by}_id", "tier_id", "cluster_id"]
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
    """Plain sums: PostgreSQL's SUM(bigint) is an exact numeric (loaded as an int by `_fetch`), SQLite's an integer.

    Casting them to bigint in SQL made PostgreSQL slower.
    """
    aggregates = {f"sum_{name}": Sum(name) for name in PLAIN_METRICS}
    for name in SPLIT_METRICS:
        aggregates[f"high_{name}"] = Sum(F(name) / Value(SPLIT))
        aggregates[f"low_{name}"] = Sum(F(name) % Value(SPLIT))
    return aggregates


class _Totals:
    """Exact integer sums of one report row (or of all): unit-seconds, and costs in unit-second micro-prices."""

    __slots__ = ("cents", "costs", "idle_cents", "idle_cost", "sums")

    def __init__(self) -> None:
        self.sums = [0] * len(SUMMED)
        self.costs = [0] * len(PRICED)
        self.cents: list[int] | None = None
        self.idle_cost = 0
        self.idle_cents = 0

    def round_costs(self, places: int) -> list[int]:
        """Each cost in the currency's smallest unit (`places` decimals), rounded half to even once."""
        scale = 10**places
        self.cents = [
            _divide(numerator * scale, DIVISOR_INT[resource] * PRICE_SCALE)
            for numerator, (_, resource, _, _) in zip(self.costs, PRICED, strict=True)
        ]
        self.idle_cents = _divide(self.idle_cost * scale, DIVISOR_INT["gpu"] * PRICE_SCALE)
        return self.cents

    def add_row(self, other: "_Totals") -> None:
        """Into the report's totals: exact hours, and costs as the sum of the rows' rounded costs."""
        self.sums = [mine + theirs for mine, theirs in zip(self.sums, other.sums, strict=True)]
        self.cents = [mine + theirs for mine, theirs in zip(self.cents or [0] * len(PRICED), other.cents, strict=True)]
        self.idle_cents += other.idle_cents

    def as_columns(self, places: int) -> dict:
        """The measure and cost columns as decimal strings (`_measures` of this one row)."""
        return _measures([self], places)[0]


MEASURE_COLUMNS = COLUMNS[COLUMNS.index("gpu_reserved_hours") : COLUMNS.index("currency")]
#: Per resource, in the order of COLUMNS: its divisor and where its sums are.
_LAYOUT = [
    (
        DIVISOR_INT[resource],
        *(SUMMED.index(f"{resource}_{name}") for name in ("reserved", "used", "burst", "unknown", "used_unknown")),
        SUMMED.index("gpu_limit") if resource == "gpu" else None,
    )
    for resource in ("gpu", "cpu", "memory")
]


def _measures(rows: list[_Totals], places: int) -> list[dict]:
    """Each row's measure and cost columns as decimal strings, in order (utilization None if nothing is reserved).

    `places`: decimals of money (CHARGEBACK_COST_DECIMALS). Built column by column, one
    `_fixed_column` call per column rather than a call per number: a year by team formats
    some 30,000 numbers.
    """
    sums = list(zip(*(row.sums for row in rows), strict=True))
    columns: list[list] = []
    for divisor, reserved_at, used_at, burst_at, unknown_at, used_unknown_at, limit_at in _LAYOUT:
        reserved = sums[reserved_at]
        in_reserved = list(map(sub, sums[used_at], sums[burst_at]))
        columns.append(_fixed_column(reserved, divisor, 6))
        if limit_at is not None:
            columns.append(_fixed_column(sums[limit_at], divisor, 6))
        columns.append(_fixed_column(sums[used_at], divisor, 6))
        columns.append(_fixed_column(sums[burst_at], divisor, 6))
        unused = [whole - part if whole > part else 0 for whole, part in zip(reserved, in_reserved, strict=True)]
        columns.append(_fixed_column(unused, divisor, 6))
        columns.append(
            [_fixed(part, whole, 4) if whole > 0 else None for whole, part in zip(reserved, in_reserved, strict=True)]
        )
        columns.append(_fixed_column(sums[unknown_at], 3600, 6))
        columns.append(_fixed_column(sums[used_unknown_at], 3600, 6))
    cents = [row.cents or [0] * len(PRICED) for row in rows]
    columns += [_fixed_column(amounts, 1, 0, places) for amounts in zip(*cents, strict=True)]
    columns.append(_fixed_column(map(sum, cents), 1, 0, places))
    columns.append(_fixed_column([row.idle_cents for row in rows], 1, 0, places))
    return [dict(zip(MEASURE_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]


def _rows(
    query: ReportQuery, end: datetime, sums: list[tuple], keys: list[str], price_list: PriceList, change_days
) -> tuple:
    """Sum SQL rows into one per (group, cost center, period), each priced at its tier's rates on its cluster."""
    key_count = len(keys)
    tier_index, cluster_index = keys.index("tier_id"), keys.index("cluster_id")
    center_index = keys.index("cost_center_id") if "cost_center_id" in keys else None
    step_index = keys.index(query.step) if query.step else None
    shows_cluster = _shows_cluster(query)
    start_day = query.start.date()
    # Each SQL row's report row, and its prices (its tier's on its cluster in its rate period).
    row_keys, row_prices = [], []
    price_cache: dict[tuple, tuple[int, ...]] = {}
    for row in sums:
        bucket = row[step_index] if step_index is not None else None
        if isinstance(bucket, str):  # SQLite returns dates as text; provisional rows carry dates
            bucket = date.fromisoformat(bucket)
        row_keys.append(
            (
                row[0],
                row[center_index] if center_index is not None else None,
                bucket,
                row[tier_index] if query.split_tiers else None,
                row[cluster_index] if shows_cluster else None,
            )
        )
        segment = row[key_count - 1] if change_days else 0
        day = change_days[segment - 1] if segment else (_as_datetime(bucket).date() if bucket else start_day)
        if day < start_day:
            day = start_day
        tier_id, cluster_id = row[tier_index], row[cluster_index]
        prices = price_cache.get((tier_id, cluster_id, day))
        if prices is None:
            prices = price_cache[tier_id, cluster_id, day] = tuple(
                int(price_list.price(tier_id, resource, kind, day, cluster_id=cluster_id).scaleb(6))
                for _, resource, kind, _ in PRICED
            )
        row_prices.append(prices)
    accumulated = _accumulate(sums, row_keys, row_prices, key_count)
    labels = _labels(query.group_by, {key[0] for key in accumulated})
    if query.group_by == "cost_center":
        centers = labels
    else:
        centers = _labels("cost_center", {key[1] for key in accumulated if key[1] is not None})
    report_totals = _Totals()
    rows = []
    currency, places = settings.CHARGEBACK_CURRENCY, settings.CHARGEBACK_COST_DECIMALS
    periods: dict = {}  # bucket -> (period_start, period_end) as text, computed once per bucket
    tiers = _labels("tier", {key[3] for key in accumulated}) if query.split_tiers else {}
    if query.group_by == "cluster":
        clusters = labels
    else:
        clusters = _labels("cluster", {key[4] for key in accumulated}) if shows_cluster else {}
    for (group_id, center_id, bucket, tier_id, cluster_id), totals in accumulated.items():
        totals.round_costs(places)
        report_totals.add_row(totals)
        period = periods.get(bucket)
        if period is None:
            period_start = max(_as_datetime(bucket), query.start) if bucket else query.start
            period_end = min(_next_bucket(query.step, _as_datetime(bucket)), end) if bucket else end
            period = periods[bucket] = (period_start.isoformat(), period_end.isoformat())
        code, name = labels.get(group_id, (str(group_id), ""))
        row = {
            "group": code,
            "group_name": name,
            "cost_center": centers[center_id][0] if center_id in centers else "",
            "cluster": clusters[cluster_id][0] if cluster_id in clusters else "",
            "period_start": period[0],
            "period_end": period[1],
        }
        row["currency"] = currency
        row["line"], row["adjusts"] = USAGE_LINE, ""
        if query.split_tiers:
            row["tier"] = tiers[tier_id][0]
        rows.append(row)
    for row, measures in zip(rows, _measures(list(accumulated.values()), places), strict=True):
        row.update(measures)
    rows.sort(key=_row_order)
    return rows, report_totals


def _accumulate(sums: list[tuple], row_keys: list[tuple], row_prices: list[tuple[int, ...]], key_count: int) -> dict:
    """Report row key -> the _Totals of its SQL rows (group keys, plain sums, split halves) priced at their prices.

    Column by column over every SQL row at once: the rows are put in key order, so that each
    key's rows are adjacent, and a column's running sums (`accumulate`, in C) give each key's
    sum as a difference. A year by team has some 6,000 SQL rows in 1,000 keys; summing them
    key by key was most of the report's Python.
    """
    slots: dict[tuple, int] = {}
    row_slots = [slots.setdefault(key, len(slots)) for key in row_keys]
    order = sorted(range(len(row_slots)), key=row_slots.__getitem__)  # stable: keys keep their first-seen order
    counts = [0] * len(slots)
    for slot in row_slots:
        counts[slot] += 1
    ends = list(accumulate(counts))
    bounds = list(zip([0, *ends[:-1]], ends, strict=True))

    def per_key(column) -> list[int]:
        running = list(accumulate(column, initial=0))
        return [running[end] - running[start] for start, end in bounds]

    columns = list(zip(*(sums[index] for index in order), strict=True))[key_count:]
    plain = len(PLAIN_METRICS)
    # A split metric per row: high * SPLIT + low, so its column sums (and priced sums) the same way.
    metrics = columns[:plain] + [
        list(map(add, map(mul, columns[at], repeat(SPLIT)), columns[at + 1])) for at in range(plain, len(columns), 2)
    ]
    price_columns = list(zip(*(row_prices[index] for index in order), strict=True))
    unpriced = [0] * len(slots)
    costs = [
        per_key(map(mul, metrics[summed], price_columns[index])) if any(price_columns[index]) else unpriced
        for index, (_, _, _, summed) in enumerate(PRICED)
    ]
    idle = [
        (reserved - used + burst) * price if reserved - used + burst > 0 and price else 0
        for reserved, used, burst, price in zip(
            metrics[GPU_RESERVED], metrics[GPU_USED], metrics[GPU_BURST], price_columns[RESERVED_GPU_PRICE], strict=True
        )
    ]
    accumulated = {}
    for key, key_sums, key_costs, idle_cost in zip(
        slots, zip(*map(per_key, metrics), strict=True), zip(*costs, strict=True), per_key(idle), strict=True
    ):
        totals = accumulated[key] = _Totals()
        totals.sums, totals.costs, totals.idle_cost = list(key_sums), list(key_costs), idle_cost
    return accumulated


def _shows_cluster(query: ReportQuery) -> bool:
    """Whether each row is on one cluster: grouped by cluster or namespace (which never moves), or filtered to one."""
    return query.group_by in ("cluster", "namespace") or bool(query.cluster)


def _divide(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half to even, in integers (both >= 0)."""
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    return quotient


_POWERS = [10**power for power in range(16)]
_ZEROS = ["0"] + ["0." + "0" * decimals for decimals in range(1, 16)]


def _fixed(numerator: int, denominator: int, places: int, shift: int = 0) -> str:
    """numerator / denominator with `places` decimals (half to even), as a decimal string.

    `shift` moves the point left afterwards: amounts already in cents are shown with 2 decimals.
    """
    return _fixed_column((numerator,), denominator, places, shift)[0]


def _fixed_column(numerators: Iterable[int], denominator: int, places: int, shift: int = 0) -> list[str]:
    """`_fixed` of each numerator over one denominator, in one loop: a report's columns."""
    decimals, scale = places + shift, _POWERS[places]
    zero, width = _ZEROS[decimals], decimals + 1
    column: list[str] = []
    append = column.append
    for numerator in numerators:
        if numerator <= 0:  # adjustments may take back what was billed
            append("-" + _fixed(-numerator, denominator, places, shift) if numerator else zero)
            continue
        value, remainder = divmod(numerator * scale, denominator)
        if 2 * remainder > denominator or (2 * remainder == denominator and value & 1):
            value += 1
        if decimals:
            text = str(value).rjust(width, "0")
            append(f"{text[:-decimals]}.{text[-decimals:]}")
        else:
            append(str(value))
    return column


def _labels(group_by: str, ids: set) -> dict:
    """id -> (code, name) for the groups present."""
    ids = {pk for pk in ids if pk is not None}
    if not ids:
        return {}
    if group_by == "namespace":
        rows = _by_ids(TeamNamespace.objects.all(), ids).values_list("pk", "name", "team__slug")
        return {pk: (name, f"{name} ({team})") for pk, name, team in rows if pk in ids}
    if group_by == "cluster":  # a cluster has a name and perhaps a description of what it is for
        rows = _by_ids(Cluster.objects.all(), ids).values_list("pk", "name", "description")
        return {pk: (name, description or name) for pk, name, description in rows if pk in ids}
    model, code = {"cost_center": (CostCenter, "code"), "team": (Team, "slug"), "tier": (GpuTier, "slug")}[group_by]
    rows = _by_ids(model.objects.all(), ids).values_list("pk", code, "name")
    return {pk: (slug, name) for pk, slug, name in rows if pk in ids}


def _by_ids(queryset, ids: set):
    """Rows with these ids: an IN list when short; a range when long (the caller drops the rows between).

    A thousand bound parameters cost PostgreSQL more than reading the rows between them.
    """
    if len(ids) <= 50:
        return queryset.filter(pk__in=ids)
    return queryset.filter(pk__gte=min(ids), pk__lte=max(ids))


def _as_datetime(day: date | datetime | str) -> datetime:
    if isinstance(day, str):  # SQLite returns dates as text when read from the cursor
        day = date.fromisoformat(day)
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
