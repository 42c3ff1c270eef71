"""Warnings before a team hits its quota: checked after each usage sync, one per crossing upward.

Watched keys are the GPUs the quota controller counts (`requests.nvidia.com/gpu`, in every
quota, so a burst quota scoped to the preemptible class is watched as well as the guaranteed
one) and, separately, `requests.memory` and `requests.cpu`. `limits.nvidia.com/gpu` is not
watched: Kubernetes never counts it (its `used` stays absent), so it could never warn.

A key warns when its used share of hard reaches a threshold above the level it holds
(teams.thresholds), and holds that level until usage falls below the threshold by the
margin (QUOTA_WARNING_MARGIN): usage hovering around 95% warns once. Nothing is recorded
on the way down. Each warning is one `namespace.quota_warning` event (teams.events), which
the notifications deliver, carrying a link to a change_quota form pre-filled with a larger
hard and the evidence: the last 7 days' peak and average, and the pods the quota refused.

Cost: one query loads the state of every namespace the sync checked (per LOAD_BATCH of
them); only when something crossed, one query for the crossed keys' samples and one for
their refusals, then one audit row per warning.
"""

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from provisioning.models import QuotaRefusal, QuotaWarning, UsageSample
from teams import events
from teams.catalog import gpu_words
from teams.constants import GUARANTEED_GPU_KEY, QUOTA_KEYS
from teams.models import Request, TeamNamespace
from teams.quantities import Format, Quantity, QuantityError, parse_quantity
from teams.thresholds import warning_thresholds

MEMORY_KEY, CPU_KEY = "requests.memory", "requests.cpu"
WATCHED_KEYS = (GUARANTEED_GPU_KEY, MEMORY_KEY, CPU_KEY)
#: How far back the evidence looks.
HISTORY = timedelta(days=7)
#: Refused pods named in a justification; the rest are counted.
NAMED_REFUSALS = 3
#: Namespaces whose state one query loads.
LOAD_BATCH = 500
GIB = Decimal(2**30)
KEY_NAMES = dict(QUOTA_KEYS)


@dataclass
class _Crossing:
    namespace: TeamNamespace
    state: QuotaWarning
    used: Decimal
    thresholds: tuple[int, ...]


def check_quota_warnings(namespaces: list[TeamNamespace], now: datetime) -> int:
    """Update the warning state of namespaces whose usage the sync saw change; record each new warning.

    `namespaces` carry the observed quotas the sync just read, with team and tier loaded. Runs
    inside the sync's transaction; returns how many warnings were recorded.
    """
    if not namespaces:
        return 0
    states: dict[int, dict[tuple[str, str], QuotaWarning]] = defaultdict(dict)
    ids = [namespace.pk for namespace in namespaces]
    for start in range(0, len(ids), LOAD_BATCH):
        for state in QuotaWarning.objects.filter(namespace_id__in=ids[start : start + LOAD_BATCH]):
            states[state.namespace_id][state.quota_name, state.resource] = state
    margin = settings.QUOTA_WARNING_MARGIN
    created: list[QuotaWarning] = []
    changed: list[QuotaWarning] = []
    cleared: list[int] = []
    crossings: list[_Crossing] = []
    for namespace in namespaces:
        thresholds = warning_thresholds(namespace.team, namespace.tier)
        held = states.get(namespace.pk, {})
        readings = _readings(namespace.observed_quotas or {})
        for key in sorted(set(readings) | set(held)):
            state = held.get(key)
            if key not in readings:  # the key, its quota or its hard is gone: nothing is left to warn about
                cleared.append(state.pk)
                continue
            reading = readings[key]
            if reading.used is None:  # the quota controller has not counted yet: unknown, never 0
                continue
            used, hard = reading.used, reading.hard
            level = next_level(state.level if state else 0, used, hard, thresholds, margin)
            if level == 0:
                if state is not None:
                    cleared.append(state.pk)
                continue
            rose = state is None or level > state.level
            if state is None:
                state = QuotaWarning(namespace=namespace, quota_name=key[0], resource=key[1])
                created.append(state)
            elif state.level != level or (state.used, state.hard) != (reading.used_text, reading.hard_text):
                changed.append(state)
            state.level, state.percent = level, _percent(used, hard)
            state.used, state.hard = reading.used_text, reading.hard_text
            if rose:
                state.warned_at = now
                crossings.append(_Crossing(namespace, state, used, thresholds))
    _add_links(crossings, now)
    QuotaWarning.objects.filter(pk__in=cleared).delete()
    QuotaWarning.objects.bulk_create(created)
    QuotaWarning.objects.bulk_update(changed, ["level", "used", "hard", "percent", "warned_at", "link"], batch_size=500)
    if crossings:
        actor = events.system_actor()
        for crossing in crossings:
            _record(crossing, actor)
    return len(crossings)


def next_level(previous: int, used: Decimal, hard: Decimal, thresholds: tuple[int, ...], margin: int) -> int:
    """The highest threshold that holds: reached now, or held before and not fallen below it by `margin`.

    0 when none does; compared exactly (used x 100 against threshold x hard), never as floats.
    """
    level = 0
    for threshold in thresholds:
        reached = used * 100 >= threshold * hard
        kept = threshold <= previous and used * 100 >= (threshold - margin) * hard
        if reached or kept:
            level = threshold
    return level


def suggested_hard(resource: str, used: Decimal, below: int) -> Quantity:
    """The smallest round hard (whole GPUs and cores, whole Gi) under which `used` is below `below` percent."""
    unit = GIB if resource == MEMORY_KEY else Decimal(1)
    steps = math.floor(used * 100 / (below * unit)) + 1
    return Quantity(steps * unit, Format.BINARY_SI if resource == MEMORY_KEY else Format.DECIMAL_SI)


@dataclass(frozen=True)
class WarningRow:
    state: QuotaWarning
    #: What the key is called, e.g. "Guaranteed GPUs".
    words: str


def current_warnings(namespace: TeamNamespace) -> list[WarningRow]:
    """What the namespace page shows: the keys that hold a warning now, fullest first."""
    states = namespace.quota_warnings.order_by("-percent", "quota_name", "resource")
    return [WarningRow(state, key_words(state.resource, namespace)) for state in states]


def key_words(resource: str, namespace: TeamNamespace) -> str:
    """What a watched key is called on a page and in a justification: "Guaranteed GPUs", "Memory requests"."""
    return gpu_words(namespace.tier) if resource == GUARANTEED_GPU_KEY else KEY_NAMES.get(resource, resource)


@dataclass(frozen=True)
class _Reading:
    used: Decimal | None
    hard: Decimal
    used_text: str
    hard_text: str


def _readings(observed: dict) -> dict[tuple[str, str], _Reading]:
    """(quota, key) -> what the sync read of every watched key with a hard above 0; used None: not counted yet."""
    readings = {}
    for quota_name, values in observed.items():
        used_values = values.get("used")
        for resource in WATCHED_KEYS:
            hard_text = (values.get("hard") or {}).get(resource)
            if hard_text is None:
                continue
            try:
                hard = parse_quantity(hard_text)
                used = None if used_values is None else parse_quantity(used_values.get(resource, "0"))
            except QuantityError:
                continue
            if hard.value > 0:
                readings[quota_name, resource] = _Reading(
                    None if used is None else used.value,
                    hard.value,
                    "" if used is None else used.canonical(),
                    hard.canonical(),
                )
    return readings


def _add_links(crossings: list[_Crossing], now: datetime) -> None:
    """Each crossing's pre-filled request, with the evidence read in one query for samples and one for refusals."""
    if not crossings:
        return
    start = now - HISTORY
    namespace_ids = {crossing.namespace.pk for crossing in crossings}
    wanted = {(crossing.namespace.pk, crossing.state.quota_name, crossing.state.resource) for crossing in crossings}
    series: dict[tuple, list[tuple[datetime, Decimal | None]]] = defaultdict(list)
    # A sample before the window says what held at its start; every key has one per heartbeat.
    samples = UsageSample.objects.filter(
        namespace_id__in=namespace_ids,
        resource__in={resource for _, _, resource in wanted},
        time__gte=start - timedelta(seconds=settings.USAGE_HEARTBEAT_SECONDS),
        time__lte=now,
    ).order_by("time", "pk")
    for namespace_id, quota_name, resource, time, used in samples.values_list(
        "namespace_id", "quota_name", "resource", "time", "used"
    ):
        if (namespace_id, quota_name, resource) in wanted:
            series[namespace_id, quota_name, resource].append((time, used))
    refused: dict[tuple, list[QuotaRefusal]] = defaultdict(list)
    for refusal in QuotaRefusal.objects.filter(namespace_id__in=namespace_ids, last_seen__gte=start).order_by(
        "-last_seen", "pk"
    ):
        refused[refusal.namespace_id, refusal.quota_name, refusal.resource].append(refusal)
    for crossing in crossings:
        key = (crossing.namespace.pk, crossing.state.quota_name, crossing.state.resource)
        peak, average = usage_history(series.get(key, []), start, now)
        peak = crossing.used if peak is None else max(peak, crossing.used)
        crossing.state.link = _link(crossing, peak, average if average is not None else crossing.used, refused[key])


def usage_history(points: list[tuple[datetime, Decimal | None]], start: datetime, end: datetime):
    """(peak, time-weighted average) of `used` over [start, end], samples being a step function.

    A sample holds until the next one; the last one before `start` holds at `start`. Stretches of
    unknown usage (None) count for neither. (None, None) when nothing is known.
    """
    steps: list[tuple[datetime, Decimal | None]] = []
    for moment, used in points:
        if moment <= start:
            steps = [(start, used)]
        else:
            steps.append((moment, used))
    peak: Decimal | None = None
    area, seconds = Decimal(0), Decimal(0)
    for index, (moment, used) in enumerate(steps):
        if used is None:
            continue
        until = steps[index + 1][0] if index + 1 < len(steps) else end
        length = Decimal(str((until - moment).total_seconds()))
        area, seconds = area + used * length, seconds + length
        peak = used if peak is None else max(peak, used)
    return peak, (area / seconds if seconds else peak)


def _link(crossing: _Crossing, peak: Decimal, average: Decimal, refusals: list[QuotaRefusal]) -> str:
    """The portal path of a change_quota form raising this key, its justification pre-filled with the evidence;
    empty when the quota is not one of the namespace's desired quotas (no form can change it)."""
    namespace, state = crossing.namespace, crossing.state
    index = next(
        (position for position, quota in enumerate(namespace.quotas or []) if quota.get("name") == state.quota_name),
        None,
    )
    if index is None:
        return ""
    below = crossing.thresholds[0]
    suggested = suggested_hard(state.resource, crossing.used, below)
    lines = [
        f"{key_words(state.resource, namespace)} ({state.resource}) in {state.quota_name}: {state.used} used of "
        f"{state.hard} hard ({state.percent}%) at {crossing.state.warned_at:%Y-%m-%d %H:%M} UTC.",
        f"Last 7 days: peak {_amount(state.resource, peak)}, average {_amount(state.resource, average)}.",
    ]
    if refusals:
        named = "; ".join(f"{row.object_kind}/{row.object_name} asked {row.asked}" for row in refusals[:NAMED_REFUSALS])
        more = f"; {len(refusals) - NAMED_REFUSALS} more" if len(refusals) > NAMED_REFUSALS else ""
        total = sum(refusal.count for refusal in refusals)
        lines.append(f"Pods this quota refused in the last 7 days: {total} ({named}{more}).")
    lines.append(
        f"Asking for {suggested.canonical()}: today's use would be {_percent(crossing.used, suggested.value)}% "
        f"of it, under the {below}% warning."
    )
    query = urlencode(
        {
            "cluster": namespace.cluster.name,
            "namespace": namespace.name,
            f"quota|{index}|{state.resource}": suggested.canonical(),
            "justification": "\n".join(lines),
        }
    )
    return f"{reverse('request-new', args=[Request.Kind.CHANGE_QUOTA])}?{query}"


def _record(crossing: _Crossing, actor) -> None:
    namespace, state = crossing.namespace, crossing.state
    events.record(
        "namespace.quota_warning",
        actor=actor,
        target=namespace.audit_target,
        after={
            "namespace": namespace.name,
            "team": namespace.team.slug,
            "resource": state.resource,
            "quota": state.quota_name,
            "level": state.level,
            "used": state.used,
            "hard": state.hard,
            "percent": state.percent,
            "link": state.link,
        },
    )


def _percent(used: Decimal, hard: Decimal) -> int:
    return int(used * 100 / hard)


def _amount(resource: str, value: Decimal) -> str:
    """For reading, to a tenth: "6.5" GPUs or cores, "97.3Gi" of memory."""
    if resource == MEMORY_KEY:
        return f"{_tenth(value / GIB)}Gi"
    return _tenth(value)


def _tenth(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.1')).normalize():f}"
