"""Counting what happened: the events module's subscriber, and the running totals it keeps for /metrics.

A histogram is kept as one row per bucket (not cumulative, so that a bucket added later
starts empty without breaking the others) plus a row for the sum; /metrics makes the
buckets cumulative. Each event adds to its rows in one short transaction.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from monitoring.models import EventTally
from teams.models import AuditEvent, Request

APPROVE_TO_APPLIED = "approve_to_applied_seconds"
APPLY_FAILURES = "apply_failures"
#: Upper bounds in seconds: an apply takes seconds; retries through an outage, minutes to an hour.
APPROVE_TO_APPLIED_BOUNDS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 14400)
OVERFLOW = "+Inf"
SUM = "sum"


@dataclass(frozen=True)
class Histogram:
    #: (upper bound, observations at or below it), the last bound being +Inf.
    buckets: list[tuple[float, float]]
    total: float

    @property
    def count(self) -> float:
        return self.buckets[-1][1]


def tally_event(sender, event: AuditEvent, **kwargs) -> None:
    """Subscriber of teams.events.event_recorded: runs after the event's transaction commits."""
    if event.verb == "request.applied":
        request = event.request
        if request is not None and request.decided_at and request.applied_at:
            observe(APPROVE_TO_APPLIED, (request.applied_at - request.decided_at).total_seconds())
    elif event.verb == "request.failed":
        add(APPLY_FAILURES, event.after.get("reason") or Request.FailureReason.REFUSED)


def add(metric: str, key: str, amount: float = 1) -> None:
    with transaction.atomic():
        _add(metric, {key: amount})


def observe(metric: str, value: float, bounds: tuple[float, ...] = APPROVE_TO_APPLIED_BOUNDS) -> None:
    """Count `value` in the first bucket whose bound holds it, and add it to the sum."""
    bucket = next((_key(bound) for bound in bounds if value <= bound), OVERFLOW)
    with transaction.atomic():
        _add(metric, {bucket: 1, SUM: value})


def read_tallies() -> dict[str, dict[str, float]]:
    """Every running total, by metric and key, in one query."""
    tallies: dict[str, dict[str, float]] = {}
    for metric, key, value in EventTally.objects.values_list("metric", "key", "value"):
        tallies.setdefault(metric, {})[key] = value
    return tallies


def histogram(tally: dict[str, float], bounds: tuple[float, ...] = APPROVE_TO_APPLIED_BOUNDS) -> Histogram:
    """Cumulative buckets, as Prometheus exposes them, from the per-bucket rows."""
    buckets, running = [], 0.0
    for bound in (*bounds, float("inf")):
        running += tally.get(OVERFLOW if bound == float("inf") else _key(bound), 0.0)
        buckets.append((bound, running))
    return Histogram(buckets, tally.get(SUM, 0.0))


def _add(metric: str, amounts: dict[str, float]) -> None:
    EventTally.objects.bulk_create([EventTally(metric=metric, key=key) for key in amounts], ignore_conflicts=True)
    for key, amount in amounts.items():
        EventTally.objects.filter(metric=metric, key=key).update(value=F("value") + amount)


def _key(bound: float) -> str:
    return f"{bound:g}"
