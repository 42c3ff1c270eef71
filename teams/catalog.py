"""The tier catalog: what a tier allows and what a GPU costs, in one place.

Policy, manifests, capacity, sync, chargeback and the API all ask the same questions:
which tier has this slug, id or PriorityClass; which PriorityClasses are preemptible;
does a quota hold guaranteed or burst GPUs; how many GPUs does a spec guarantee.
`TierCatalog.load()` reads the tiers once per operation and answers them, so no caller
re-derives a rule. What a GPU-hour costs on a day is `PriceList`'s (the rates, read
once); which prices may still change is `check_rate_day`'s.

It lives in teams, beside GpuTier and Rate, because teams is the ground floor: policy
and capacity (teams) need it as much as provisioning and chargeback do.
"""

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from teams.constants import GPU_LIMIT_KEY, GUARANTEED_GPU_KEY
from teams.models import GpuTier, Rate, Resource
from teams.quantities import QuantityError, parse_quantity
from teams.specs import scoped_priority_classes


@dataclass(frozen=True)
class GpuAllocation:
    """What a namespace's quotas mean in whole GPUs.

    `guaranteed` GPUs are held for pods that are never preempted; `limit` is what the
    namespace may hold at most, guaranteed plus preemptible burst. `limit` includes the
    seed's `limits.nvidia.com/gpu`, which states intent but is not enforced.
    """

    guaranteed: int
    limit: int
    largest_quota: int


@dataclass(frozen=True)
class GuaranteedGpuFinding:
    """GPUs a tier without guaranteed GPUs would guarantee after all: which quota, and why."""

    quota_name: str
    gpus: int | None  # None: pods at other PriorityClasses take GPUs without any bound


class TierCatalog:
    """Every tier, read once, with the rules over them."""

    def __init__(self, tiers: Iterable[GpuTier]) -> None:
        self.tiers = list(tiers)
        self.by_slug = {tier.slug: tier for tier in self.tiers}
        self.by_id = {tier.pk: tier for tier in self.tiers}
        self.by_priority_class = {tier.priority_class_name: tier for tier in self.tiers}
        #: PriorityClasses of the tiers that guarantee nothing: their pods may always be preempted.
        self.preemptible_classes = frozenset(
            tier.priority_class_name for tier in self.tiers if not tier.allows_guaranteed_gpus
        )

    @classmethod
    def load(cls) -> "TierCatalog":
        return cls(GpuTier.objects.all())

    # Guaranteed or burst.

    def admits_only_preemptible(self, quota: dict) -> bool:
        """Whether every pod the quota counts runs at a preemptible PriorityClass (scoped `In` those only)."""
        scope = scoped_priority_classes(quota)
        return scope is not None and scope[0] == "In" and scope[1] <= self.preemptible_classes

    def is_guaranteed(self, quota: dict, tier: GpuTier) -> bool:
        """Whether the quota's resources are reserved (guaranteed) rather than burst.

        Burst: the quota admits only preemptible pods, or the tier guarantees nothing and
        the quota is not scoped to a guaranteed class. The second reading is the tier's
        intent, which `guaranteed_gpu_findings` makes the cluster keep.
        """
        if self.admits_only_preemptible(quota):
            return False
        if tier.allows_guaranteed_gpus:
            return True
        scope = scoped_priority_classes(quota)
        return scope is not None and scope[0] == "In"

    def gpu_allocation(self, quotas: list[dict], tier: GpuTier) -> GpuAllocation:
        """Read the GPU numbers from a spec's quotas."""
        guaranteed = burst = declared_limit = largest = 0
        for quota in quotas:
            hard = quota.get("hard") or {}
            gpus = _whole(hard.get(GUARANTEED_GPU_KEY))
            declared_limit = max(declared_limit, _whole(hard.get(GPU_LIMIT_KEY)))
            largest = max(largest, gpus)
            if self.is_guaranteed(quota, tier):
                guaranteed += gpus
            else:
                burst += gpus
        return GpuAllocation(guaranteed, max(guaranteed + burst, declared_limit), largest)

    def guaranteed_gpu_findings(self, quotas: list[dict], tier: GpuTier) -> list[GuaranteedGpuFinding]:
        """Where a tier without guaranteed GPUs would guarantee some on a real cluster.

        A quota with GPUs that admits pods at a class that is never preempted (no scope,
        `NotIn`, a guaranteed class) guarantees them whatever the tier says. And a quota
        scoped `In` the preemptible classes bounds only their pods: unless another quota
        caps the others' GPUs (or the tier's enforced burst renders that cap), a pod
        naming any other class takes GPUs without bound.
        """
        if tier.allows_guaranteed_gpus:
            return []
        findings = []
        preemptible_quota: str | None = None
        capped = False
        for quota in quotas:
            hard = quota.get("hard") or {}
            if GUARANTEED_GPU_KEY not in hard:
                continue
            gpus = _whole(hard[GUARANTEED_GPU_KEY])
            if self.admits_only_preemptible(quota):
                preemptible_quota = preemptible_quota or str(quota.get("name"))
            elif gpus:
                findings.append(GuaranteedGpuFinding(str(quota.get("name")), gpus))
            elif self._admits_every_other_class(quota):
                capped = True
        if preemptible_quota and not capped and not findings and not tier.enforces_gpu_burst:
            findings.append(GuaranteedGpuFinding(preemptible_quota, None))
        return findings

    def _admits_every_other_class(self, quota: dict) -> bool:
        scope = scoped_priority_classes(quota)
        return scope is None or (scope[0] == "NotIn" and scope[1] <= self.preemptible_classes)


class PriceList:
    """Every rate, read in one query: what a unit-hour of a resource costs in a tier on any day."""

    def __init__(self) -> None:
        self._days: dict[tuple, list[date]] = defaultdict(list)
        self._prices: dict[tuple, list[Decimal]] = defaultdict(list)
        for tier_id, resource, kind, effective_from, price in Rate.objects.order_by("effective_from").values_list(
            "tier_id", "resource", "kind", "effective_from", "price"
        ):
            self._days[tier_id, resource, kind].append(effective_from)
            self._prices[tier_id, resource, kind].append(price)

    def price(self, tier_id: int, resource: str, kind: str, day: date) -> Decimal:
        """The price of one unit-hour in effect on `day`; 0 before the first rate."""
        key = (tier_id, resource, kind)
        position = bisect_right(self._days.get(key, []), day)
        return self._prices[key][position - 1] if position else Decimal(0)

    def effective_from(self, tier_id: int, resource: str, kind: str, day: date) -> date | None:
        """The first day of the rate in effect on `day` (None before the first rate): which price point applies."""
        days = self._days.get((tier_id, resource, kind), [])
        position = bisect_right(days, day)
        return days[position - 1] if position else None

    def gpu_prices(self, tier: GpuTier, day: date) -> dict[str, Decimal]:
        """The GPU-hour prices of a tier on a day, by rate kind: reserved (guaranteed) and burst (used beyond)."""
        return {kind: self.price(tier.pk, Resource.GPU, kind, day) for kind in Rate.Kind.values}

    def change_days(self, start: date, end: date) -> list[date]:
        """Days in (start, end) on which some price changes: a report splits its periods there."""
        return sorted({day for days in self._days.values() for day in days if start < day < end})


def gpu_words(tier: GpuTier) -> str:
    """What a tier's `requests.nvidia.com/gpu` are called on a page: a best-effort tier guarantees none."""
    return "Guaranteed GPUs" if tier.allows_guaranteed_gpus else "Preemptible GPUs"


def gpu_input_words(tier: GpuTier, quota: dict) -> tuple[str, str]:
    """The label and help of the `requests.nvidia.com/gpu` input of one of a tier's quotas.

    In a tier without guaranteed GPUs only the quota scoped to the tier's PriorityClass holds
    GPUs; any other quota is the cap that keeps pods at other classes from taking any.
    """
    if tier.allows_guaranteed_gpus:
        return gpu_words(tier), "Held for this namespace's pods: approvers count them against the cluster's capacity."
    scope = scoped_priority_classes(quota)
    if scope is not None and scope[0] == "In" and scope[1] == {tier.priority_class_name}:
        return gpu_words(tier), (
            f"The {tier.name} tier guarantees no GPUs: pods at {tier.priority_class_name} use up to this many "
            "while the cluster has them free, and may be preempted."
        )
    return "GPUs of other PriorityClasses", (
        f"Stays 0: in a {tier.name} namespace, pods at any PriorityClass but {tier.priority_class_name} get no GPUs."
    )


def tier_default_spec(tier: GpuTier, prefix: str) -> dict:
    """A new namespace's starting point: the tier's default quota and LimitRange, valid in the tier.

    Quotas are named `<prefix>-quota` (and `<prefix>-guaranteed`). In a tier without
    guaranteed GPUs the GPU quota counts only pods at the tier's PriorityClass, and
    (unless the tier's enforced burst renders it) a second quota holds 0 GPUs for every
    other pod: what `TierCatalog.guaranteed_gpu_findings` asks for.
    """
    spec: dict = {"tier": tier.slug, "labels": {}, "quotas": [], "limitRange": {}}
    if tier.default_quota_hard:
        quota: dict = {"name": f"{prefix}-quota", "hard": dict(tier.default_quota_hard)}
        spec["quotas"] = [quota]
        if not tier.allows_guaranteed_gpus and GUARANTEED_GPU_KEY in quota["hard"]:
            quota["scopeSelector"] = _priority_class_scope("In", tier.priority_class_name)
            if not tier.enforces_gpu_burst:
                spec["quotas"].append(
                    {
                        "name": f"{prefix}-guaranteed",
                        "hard": {GUARANTEED_GPU_KEY: "0"},
                        "scopeSelector": _priority_class_scope("NotIn", tier.priority_class_name),
                    }
                )
    if tier.default_limit_range:
        spec["limitRange"] = {"name": "default-limits", "limits": list(tier.default_limit_range)}
    return spec


def _priority_class_scope(operator: str, name: str) -> dict:
    return {"matchExpressions": [{"scopeName": "PriorityClass", "operator": operator, "values": [name]}]}


def first_open_day(today: date | None = None) -> date:
    """The first day whose price may still be set: tomorrow (UTC).

    Reports price usage when they are pulled, so a rate in effect on any day up to today
    may already stand in a report (today's hours are rolled up as they end): changing it
    would change what was billed. A new price therefore starts tomorrow at the earliest.
    """
    return (today or timezone.now().date()) + timedelta(days=1)


def is_billed(rate: Rate, today: date | None = None) -> bool:
    """Whether a rate was in effect on a day that may be billed already: then it is history, never changed."""
    return rate.effective_from < first_open_day(today)


def check_rate_day(effective_from: date, today: date | None = None) -> None:
    """Refuse a new or changed price for a day that may be billed already."""
    first = first_open_day(today)
    if effective_from < first:
        raise ValidationError(
            {
                "effective_from": f"Prices up to today may be billed already and are never changed: a new price "
                f"takes effect from {first.isoformat()} on at the earliest."
            }
        )


_closed_months_provider: Callable[[], list[date]] | None = None


def register_closed_months(provider: Callable[[], list[date]]) -> None:
    """`provider()` returns the first days of the months finance closed (chargeback registers it)."""
    global _closed_months_provider
    _closed_months_provider = provider


def check_rate_outside_closed_months(rate: Rate, *, deleting: bool = False) -> None:
    """Refuse a rate written, changed or deleted so that a day of a closed month would be priced differently.

    A rate prices every day from its own until the next rate of its tier, resource and kind:
    that span (before and after the change) must not touch a closed month.
    """
    closed = _closed_months_provider() if _closed_months_provider else []
    if not closed:
        return
    spans = []
    if rate.pk is not None:
        stored = Rate.objects.filter(pk=rate.pk).first()
        if stored is not None:
            spans.append(_rate_span(stored))
    if not deleting:
        spans.append(_rate_span(rate))
    for first, until in spans:
        for month in closed:
            following = (month + timedelta(days=32)).replace(day=1)
            if first < following and (until is None or month < until):
                raise ValidationError(
                    {
                        "effective_from": f"{month:%B %Y} is closed: its prices are part of a closed report and "
                        f"cannot change (a rate from {first.isoformat()} would price it)."
                    }
                )


def _rate_span(rate: Rate) -> tuple[date, date | None]:
    """[effective_from, the next rate's day) of `rate` among its tier's, resource's and kind's rates."""
    following = (
        Rate.objects.filter(
            tier_id=rate.tier_id, resource=rate.resource, kind=rate.kind, effective_from__gt=rate.effective_from
        )
        .exclude(pk=rate.pk)
        .order_by("effective_from")
        .values_list("effective_from", flat=True)
        .first()
    )
    return rate.effective_from, following


def refuse_saving_rate_in_closed_month(sender, instance: Rate, **kwargs) -> None:
    """pre_save of Rate: the rule holds for every writer, not only the admin form."""
    check_rate_outside_closed_months(instance)


def refuse_deleting_rate_in_closed_month(sender, instance: Rate, **kwargs) -> None:
    """pre_delete of Rate."""
    check_rate_outside_closed_months(instance, deleting=True)


def _whole(value: object) -> int:
    if value is None:
        return 0
    try:
        return parse_quantity(value).as_int_ceiling()
    except QuantityError:
        return 0
