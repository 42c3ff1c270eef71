"""GPU usage over time as an inline SVG step chart, drawn by the portal itself (no CDN, no JS)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from provisioning.models import UsageSample
from teams.catalog import gpu_words
from teams.constants import GUARANTEED_GPU_KEY
from teams.models import TeamNamespace

#: The longest range is all the raw samples that are sure to be kept.
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": UsageSample.READ_BACK}
WIDTH, HEIGHT, PAD = 600, 160, 28


@dataclass(frozen=True)
class Chart:
    #: What the GPUs are called in this namespace's tier.
    words: str
    range: str
    start: datetime
    end: datetime
    used_path: str
    hard_path: str
    top: float
    latest_used: float | None
    latest_hard: float | None


def gpu_chart(namespace: TeamNamespace, range_name: str, *, now: datetime | None = None) -> Chart:
    """Used and hard guaranteed GPUs over the range, as SVG path data (step functions).

    Two queries whatever the range: the samples inside it, and the last one before it,
    which says what held at the start.
    """
    end = now or timezone.now()
    start = end - RANGES.get(range_name, RANGES["24h"])
    samples = UsageSample.objects.filter(namespace=namespace, resource=GUARANTEED_GPU_KEY)
    before = samples.filter(time__lt=start).order_by("-time").values("time", "hard", "used").first()
    inside = list(samples.filter(time__gte=start, time__lt=end).order_by("time").values("time", "hard", "used"))
    points = ([{**before, "time": start}] if before else []) + inside
    top = max([1.0] + [float(p["hard"]) for p in points] + [float(p["used"] or 0) for p in points]) * 1.1

    def x(moment: datetime) -> float:
        return PAD + (moment - start).total_seconds() / (end - start).total_seconds() * (WIDTH - 2 * PAD)

    def y(value: float) -> float:
        return HEIGHT - PAD - value / top * (HEIGHT - 2 * PAD)

    def path(key: str) -> str:
        steps = [(p["time"], float(p[key])) for p in points if p[key] is not None]
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
        latest_used=float(last["used"]) if last and last["used"] is not None else None,
        latest_hard=float(last["hard"]) if last else None,
    )
