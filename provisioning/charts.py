"""GPU usage over time as an inline SVG step chart, drawn by the portal itself (no CDN, no JS)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.utils import timezone

from provisioning.models import UsageSample
from teams.catalog import gpu_words
from teams.constants import GUARANTEED_GPU_KEY
from teams.models import TeamNamespace

#: The longest range is all the raw samples that are sure to be kept.
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": UsageSample.READ_BACK}
WIDTH, HEIGHT, PAD = 600, 160, 28


def nice_axis(maximum: Decimal, *, ticks: int = 4) -> tuple[Decimal, list[Decimal]]:
    """(top, tick values from 0): the axis of every chart, rounded up to 1, 2 or 5 x 10^n per tick.

    A 4.5 bar gets an axis of 0, 2, 4, 6 rather than being cut at 4; nothing at all is 0..1.
    """
    if maximum <= 0:
        return Decimal(1), [Decimal(0), Decimal(1)]
    raw = Decimal(maximum) / ticks
    power = Decimal(10) ** (raw.adjusted())
    step = next(nice * power for nice in (1, 2, 5, 10) if nice * power >= raw)
    count = int((Decimal(maximum) / step).to_integral_value(rounding=ROUND_CEILING))
    return step * count, [(step * index).normalize() + 0 for index in range(count + 1)]


#: Time between x-axis ticks, the first that gives at most MAX_TIME_TICKS ticks.
TIME_STEPS = [
    timedelta(minutes=minutes) for minutes in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
]
MAX_TIME_TICKS = 6
#: The shortest window drawn, so that a first sample a minute ago is not stretched across the chart.
MIN_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Step:
    """One stretch of constant values: a row of the table and a focusable column of the chart."""

    start: datetime
    end: datetime
    used: Decimal | None
    hard: Decimal
    x: float
    width: float


@dataclass(frozen=True)
class Chart:
    #: What the GPUs are called in this namespace's tier.
    words: str
    range: str
    start: datetime
    end: datetime
    used_path: str
    hard_path: str
    top: Decimal
    latest_used: Decimal | None
    latest_hard: Decimal | None
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    steps: list[Step]
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD


def gpu_chart(namespace: TeamNamespace, range_name: str, *, now: datetime | None = None) -> Chart:
    """Used and hard guaranteed GPUs over the range, as SVG path data (step functions), ticks and steps.

    The window is the range, or less when the data starts later (a new namespace's 24 h
    chart is its first minutes, not a line in the last 2%). Two queries whatever the
    range: the samples inside it, and the last one before it, which says what held at the start.
    """
    end = now or timezone.now()
    range_name = range_name if range_name in RANGES else "24h"
    start = end - RANGES[range_name]
    samples = UsageSample.objects.filter(namespace=namespace, resource=GUARANTEED_GPU_KEY)
    before = samples.filter(time__lt=start).order_by("-time").values("time", "hard", "used").first()
    inside = list(samples.filter(time__gte=start, time__lt=end).order_by("time").values("time", "hard", "used"))
    if before is None and inside:
        start = min(inside[0]["time"], end - MIN_WINDOW)
    points = ([{**before, "time": start}] if before else []) + inside
    top, values = nice_axis(max([p["hard"] for p in points] + [p["used"] or 0 for p in points], default=Decimal(0)))
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return PAD + (moment - start).total_seconds() / span * (WIDTH - 2 * PAD)

    def y(value: Decimal) -> float:
        return HEIGHT - PAD - float(value / top) * (HEIGHT - 2 * PAD)

    def path(key: str) -> str:
        steps = [(p["time"], p[key]) for p in points if p[key] is not None]
        if not steps:
            return ""
        parts = [f"M{x(steps[0][0]):.1f},{y(steps[0][1]):.1f}"]
        for moment, value in steps[1:]:
            parts.append(f"H{x(moment):.1f}V{y(value):.1f}")
        parts.append(f"H{x(end):.1f}")
        return " ".join(parts)

    last = points[-1] if points else None
    return Chart(
        words=gpu_words(namespace.tier),
        range=range_name if range_name in RANGES else "24h",
        start=start,
        end=end,
        used_path=path("used"),
        hard_path=path("hard"),
        top=top,
        latest_used=last["used"] if last else None,
        latest_hard=last["hard"] if last else None,
        y_ticks=[(y(value), f"{value:f}") for value in values],
        x_ticks=_time_ticks(start, end, x),
        steps=_steps(points, end, x),
    )


def _steps(points: list[dict], end: datetime, x) -> list[Step]:
    """Consecutive samples with the same values merged (heartbeats change nothing)."""
    steps: list[Step] = []
    for index, point in enumerate(points):
        until = points[index + 1]["time"] if index + 1 < len(points) else end
        if steps and (steps[-1].used, steps[-1].hard) == (point["used"], point["hard"]):
            first = steps.pop()
            point = {**point, "time": first.start}
        left = x(point["time"])
        steps.append(Step(point["time"], until, point["used"], point["hard"], left, x(until) - left))
    return steps


def _time_ticks(start: datetime, end: datetime, x) -> list[tuple[float, str]]:
    """Round times (every 5 min, hour, day...) across the window, labelled by time or by day."""
    step = next((step for step in TIME_STEPS if (end - start) / step <= MAX_TIME_TICKS), TIME_STEPS[-1])
    local_start = timezone.localtime(start)
    midnight = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    moment = midnight + step * -(-(local_start - midnight) // step)
    label = "%b %d" if step >= timedelta(days=1) else "%H:%M"
    ticks = []
    while moment <= end:
        ticks.append((x(moment), moment.strftime(label)))
        moment += step
    return ticks
