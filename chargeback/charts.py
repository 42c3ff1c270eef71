"""Chargeback charts as the geometry of inline SVG (no JS, no inline style): bars per group, a daily trend.

Axes come from provisioning.charts.nice_axis, so the longest bar always fits and ticks are round.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from chargeback.display import hours
from provisioning.charts import nice_axis

BAR, GAP, LABEL, WIDTH = 14, 10, 150, 640
TREND_HEIGHT, TREND_PAD, TREND_LEFT = 200, 24, 56


@dataclass(frozen=True)
class GroupBars:
    group: str
    name: str
    reserved: str
    used: str
    y: int
    reserved_width: float
    used_width: float


@dataclass(frozen=True)
class GpuHoursChart:
    bars: list[GroupBars]
    width: int
    height: int
    label_width: int
    plot_width: int
    maximum: Decimal
    ticks: list[tuple[float, str]]


def gpu_hours_chart(rows: list[dict]) -> GpuHoursChart:
    """One pair of bars (reserved, used) per group; a group in several cost centers or periods is summed."""
    groups: dict[str, list] = {}
    for row in rows:
        entry = groups.setdefault(row["group"], [row["group_name"], Decimal(0), Decimal(0)])
        entry[1] += Decimal(row["gpu_reserved_hours"])
        entry[2] += Decimal(row["gpu_used_hours"])
    top, values = nice_axis(max([value for _, *pair in groups.values() for value in pair], default=Decimal(0)))
    plot = WIDTH - LABEL - 20
    scale = plot / float(top)
    bars = []
    for index, (group, (name, reserved, used)) in enumerate(sorted(groups.items())):
        y = 10 + index * (2 * BAR + GAP)
        bars.append(
            GroupBars(group, name, hours(reserved), hours(used), y, float(reserved) * scale, float(used) * scale)
        )
    ticks = [(float(value) * scale, f"{value:f}") for value in values]
    height = 10 + len(bars) * (2 * BAR + GAP) + 24
    return GpuHoursChart(bars, WIDTH, height, LABEL, plot, top, ticks)


@dataclass(frozen=True)
class TrendDay:
    day: date
    reserved: str
    used: str
    x: float
    used_x: float
    width: float
    reserved_y: float
    reserved_height: float
    used_y: float
    used_height: float


@dataclass(frozen=True)
class TrendChart:
    days: list[TrendDay]
    width: int
    height: int
    left: int
    bottom: int
    ticks: list[tuple[float, str]]
    labels: list[tuple[float, str]]


def daily_trend_chart(rows: list[dict]) -> TrendChart:
    """Reserved and used GPU-hours per day, from a report with step=day (all groups summed per day)."""
    per_day: dict[date, list[Decimal]] = {}
    for row in rows:
        day = datetime.fromisoformat(row["period_start"]).date()
        entry = per_day.setdefault(day, [Decimal(0), Decimal(0)])
        entry[0] += Decimal(row["gpu_reserved_hours"])
        entry[1] += Decimal(row["gpu_used_hours"])
    top, values = nice_axis(max([value for pair in per_day.values() for value in pair], default=Decimal(0)))
    bottom, plot_height = TREND_HEIGHT - TREND_PAD, TREND_HEIGHT - 2 * TREND_PAD
    slot = (WIDTH - TREND_LEFT - 10) / max(len(per_day), 1)
    width = max(min(slot / 2 - 1, 16), 1)

    def height(value: Decimal) -> float:
        return float(value) / float(top) * plot_height

    days = []
    for index, (day, (reserved, used)) in enumerate(sorted(per_day.items())):
        x = TREND_LEFT + index * slot + (slot - 2 * width) / 2
        days.append(
            TrendDay(
                day,
                hours(reserved),
                hours(used),
                x,
                x + width,
                width,
                bottom - height(reserved),
                height(reserved),
                bottom - height(used),
                height(used),
            )
        )
    ticks = [(bottom - height(value), f"{value:f}") for value in values]
    every = max(1, len(days) // 8)
    labels = [(day.x + day.width, day.day.strftime("%b %d")) for day in days[::every]]
    return TrendChart(days, WIDTH, TREND_HEIGHT, TREND_LEFT, bottom, ticks, labels)
