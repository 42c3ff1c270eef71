"""Usage samples integrated into unit-seconds: the one rule chargeback bills by.

The rule, exactly:

* Samples form a step function per (namespace, quota, key): a sample's `hard` and `used`
  hold from its time until the next sample of the same series. Times count in whole
  seconds (UTC); values in whole milli-GPUs, millicores and bytes (rounded up, as the
  API server rounds quantities).
* Whether the portal was watching a namespace is read from all its samples together
  (any key): sync writes a sample when anything changes and a heartbeat per namespace
  at least hourly. Where a namespace has had no sample for longer than
  CHARGEBACK_MAX_GAP, every series it has is *unknown* from (last sample + max gap)
  until its next sample: reported as unknown hours, never billed.
* A namespace counts from its first sample until it is deleted (`deleted_at`).
* GPUs are GPU-equivalents: every `requests.<GPU resource>` of a quota (whole GPUs, MIG
  slices such as `requests.nvidia.com/mig-1g.10gb`, time-sliced `requests.nvidia.com/gpu.shared`)
  counts its units times the resource's weight in the tier catalog, rounded up to the
  milli-GPU per series, and the series of a quota add up (`gpu_series`).
* GPUs: reserved = `hard` of the GPU requests in guaranteed quotas; burst
  quotas (scoped to preemptible PriorityClasses only, or any quota of a tier without
  guaranteed GPUs that is not scoped to a guaranteed class: teams.catalog's
  TierCatalog.is_guaranteed) hold burst, not reserved, GPUs. Limit = guaranteed plus burst, or the declared
  `limits.nvidia.com/gpu` when larger. Used = `used` over all quotas; burst used = `used`
  in burst quotas.
* CPU (`requests.cpu`, else `cpu`) and memory (`requests.memory`, else `memory`): the
  same, per quota.
* Used unknown: time during which any quota of the resource had no `used` (the quota
  controller had not reported it yet), or the namespace was unknown.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

from teams.constants import GPU_LIMIT_KEY, GPU_RESOURCE, GUARANTEED_GPU_KEY

#: quota key -> (resource, preference): the first key present in a quota wins.
REQUEST_KEYS = {
    GUARANTEED_GPU_KEY: ("gpu", 0),
    "requests.cpu": ("cpu", 0),
    "cpu": ("cpu", 1),
    "requests.memory": ("memory", 0),
    "memory": ("memory", 1),
}
RESOURCES = ("gpu", "cpu", "memory")
#: value -> integer units: GPUs and cores in thousandths, memory in bytes.
SCALE = {"gpu": Decimal(1000), "cpu": Decimal(1000), "memory": Decimal(1)}


def epoch(moment: datetime) -> int:
    """Whole seconds since 1970 (UTC), the clock integration runs on."""
    return int(moment.timestamp() // 1)


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def units(resource: str, value: Decimal | None, weight: Decimal = Decimal(1)) -> int | None:
    if value is None:
        return None
    return int((Decimal(value) * weight * SCALE[resource]).to_integral_value(rounding=ROUND_CEILING))


#: GPU resource -> GPU-equivalents per unit, when the caller passes no catalog: whole GPUs only.
WHOLE_GPUS = {GPU_RESOURCE: Decimal(1)}


def gpu_series(key: str, gpu_weights: Mapping[str, Decimal]) -> tuple[str, Decimal] | None:
    """(resource, weight) of a quota key chargeback reads, or None for one it ignores.

    The one place usage is weighted: `requests.<name>` of a GPU resource the catalog weighs
    (`gpu_weights`, teams.catalog.TierCatalog.weights) is GPU usage at that weight, so a MIG
    slice or a time-sliced share bills its part of a GPU-hour.
    """
    if key == GPU_LIMIT_KEY:
        return "gpu", Decimal(1)
    if key in REQUEST_KEYS:
        return REQUEST_KEYS[key][0], Decimal(1)
    if key.startswith("requests.") and key.removeprefix("requests.") in gpu_weights:
        return "gpu", gpu_weights[key.removeprefix("requests.")]
    return None


@dataclass(frozen=True)
class Sample:
    time: int
    quota: str
    key: str
    hard: Decimal
    used: Decimal | None


@dataclass
class Value:
    """The latest sample of one series: integer units (milli or bytes)."""

    time: int
    hard: int
    used: int | None


@dataclass
class NamespaceState:
    """What integration carries from one period into the next: every series' value and the last sample."""

    last_seen: int | None = None
    values: dict[tuple[str, str], Value] = field(default_factory=dict)

    def apply(self, sample: Sample, gpu_weights: Mapping[str, Decimal] = WHOLE_GPUS) -> None:
        self.last_seen = sample.time if self.last_seen is None else max(self.last_seen, sample.time)
        series = gpu_series(sample.key, gpu_weights)
        if series is not None:
            resource, weight = series
            self.values[sample.quota, sample.key] = Value(
                sample.time, units(resource, sample.hard, weight), units(resource, sample.used, weight)
            )


Totals = dict[str, int]


def new_totals() -> Totals:
    names = ["gpu_limit"]
    for resource in RESOURCES:
        names += [f"{resource}_{name}" for name in ("reserved", "used", "burst", "unknown", "used_unknown")]
    return dict.fromkeys(names, 0)


def integrate(
    state: NamespaceState,
    samples: Iterable[Sample],
    *,
    start: int,
    end: int,
    max_gap: int,
    is_guaranteed: Callable[[str], bool],
    deleted_at: int | None = None,
    bucket_seconds: int = 3600,
    gpu_weights: Mapping[str, Decimal] = WHOLE_GPUS,
) -> dict[int, Totals]:
    """Integrate one namespace over [start, end), per bucket; `state` holds what was known at start.

    `samples` are the namespace's samples with start <= time < end, in time order; on
    return `state` is what is known at `end`, ready for the next period. `gpu_weights`
    weighs GPU shares (`gpu_series`).
    """
    pending = list(samples)
    if deleted_at is not None:
        end = min(end, deleted_at)
    totals: dict[int, Totals] = {}
    index = 0
    while index < len(pending) and pending[index].time <= start:
        state.apply(pending[index], gpu_weights)
        index += 1
    cursor = start
    while cursor < end:
        following = min(end, cursor - cursor % bucket_seconds + bucket_seconds)
        if index < len(pending):
            following = min(following, pending[index].time)
        if state.last_seen is not None and cursor < state.last_seen + max_gap < following:
            following = state.last_seen + max_gap
        if following > cursor and state.last_seen is not None:
            bucket = cursor - cursor % bucket_seconds
            bucket_totals = totals.setdefault(bucket, new_totals())
            _accumulate(bucket_totals, state, cursor, following - cursor, max_gap, is_guaranteed)
        cursor = following
        while index < len(pending) and pending[index].time <= cursor:
            state.apply(pending[index], gpu_weights)
            index += 1
    for sample in pending[index:]:  # beyond a deletion: kept so that the state stays true
        state.apply(sample, gpu_weights)
    return totals


def _accumulate(totals: Totals, state: NamespaceState, moment: int, seconds: int, max_gap: int, is_guaranteed) -> None:
    observed = moment < state.last_seen + max_gap
    # (quota, resource, GPU key): CPU and memory take one key per quota, GPUs add every resource's series.
    chosen: dict[tuple[str, str, str], tuple[int, Value]] = {}
    declared_limit = 0
    for (quota, key), value in state.values.items():
        if key == GPU_LIMIT_KEY:
            declared_limit = max(declared_limit, value.hard)
            continue
        resource, preference = REQUEST_KEYS.get(key, ("gpu", 0))  # any other series kept is a GPU share
        slot = (quota, resource, key if resource == "gpu" else "")
        current = chosen.get(slot)
        if current is None or preference < current[0]:
            chosen[slot] = (preference, value)
    present = {resource for _, resource, _ in chosen}
    if not observed:
        for resource in present:
            totals[f"{resource}_unknown"] += seconds
            totals[f"{resource}_used_unknown"] += seconds
        return
    used_unknown: set[str] = set()
    gpu_all_quotas = 0
    for (quota, resource, _), (_, value) in chosen.items():
        guaranteed = is_guaranteed(quota)
        if resource == "gpu":
            gpu_all_quotas += value.hard
        if guaranteed:
            totals[f"{resource}_reserved"] += value.hard * seconds
        if value.used is None:
            used_unknown.add(resource)
            continue
        totals[f"{resource}_used"] += value.used * seconds
        if not guaranteed:
            totals[f"{resource}_burst"] += value.used * seconds
    totals["gpu_limit"] += max(gpu_all_quotas, declared_limit) * seconds
    for resource in used_unknown:
        totals[f"{resource}_used_unknown"] += seconds
