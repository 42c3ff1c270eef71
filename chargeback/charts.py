"""Reserved against used GPU-hours per team, as the geometry of an inline SVG bar chart (no JS)."""

from dataclasses import dataclass
from decimal import Decimal

BAR, GAP, LABEL, WIDTH = 14, 10, 150, 640


@dataclass(frozen=True)
class TeamBars:
    team: str
    name: str
    reserved: Decimal
    used: Decimal
    y: int
    reserved_width: float
    used_width: float


@dataclass(frozen=True)
class GpuHoursChart:
    bars: list[TeamBars]
    width: int
    height: int
    label_width: int
    plot_width: int
    maximum: Decimal
    ticks: list[tuple[float, str]]


def gpu_hours_chart(rows: list[dict]) -> GpuHoursChart:
    """One pair of bars per team, from a report grouped by team; teams in several cost centers are summed."""
    teams: dict[str, list] = {}
    for row in rows:
        entry = teams.setdefault(row["group"], [row["group_name"], Decimal(0), Decimal(0)])
        entry[1] += Decimal(row["gpu_reserved_hours"])
        entry[2] += Decimal(row["gpu_used_hours"])
    maximum = max([value for _, reserved, used in teams.values() for value in (reserved, used)], default=Decimal(0))
    plot = WIDTH - LABEL - 20
    scale = plot / float(maximum) if maximum else 0.0
    bars = []
    for index, (team, (name, reserved, used)) in enumerate(sorted(teams.items())):
        y = 10 + index * (2 * BAR + GAP)
        bars.append(TeamBars(team, name, reserved, used, y, float(reserved) * scale, float(used) * scale))
    ticks = [(plot * share / 4, f"{maximum * share / 4:.0f}") for share in range(5)] if maximum else []
    height = 10 + len(bars) * (2 * BAR + GAP) + 24
    return GpuHoursChart(bars, WIDTH, height, LABEL, plot, maximum, ticks)
