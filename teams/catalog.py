"""The tier catalog: what a tier allows and what a GPU costs, in one place.

Policy, manifests, capacity, sync, chargeback and the API all ask the same questions:
which tier has this slug, id or PriorityClass; which PriorityClasses are preemptible;
does a quota hold guaranteed or burst GPUs; how many GPUs does a spec guarantee; which
GPU resources (whole GPUs, MIG slices, time-sliced shares) may a tier's namespaces hold,
and what is a unit of each worth in GPU-equivalents.
`TierCatalog.load()` reads the tiers once per operation and answers them, so no caller
re-derives a rule. What a GPU-hour costs on a day, in a tier and on a cluster, is
`PriceList`'s (the rates, read once); which prices may still change is `check_rate_day`'s.

It lives in teams, beside GpuTier and Rate, because teams is the ground floor: policy
and capacity (teams) need it as much as provisioning and chargeback do.
"""

import copy
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from teams.constants import GPU_LIMIT_KEY, GPU_RESOURCE, GUARANTEED_GPU_KEY
from teams.models import GpuResource, GpuTier, Rate, Resource
from teams.quantities import QuantityError, parse_quantity
from teams.specs import scoped_priority_classes

#: What a unit of a GPU resource is worth before a catalog says otherwise: a whole GPU is one.
WHOLE_GPU_WEIGHTS = {GPU_RESOURCE: Decimal(1)}
REQUESTS = "requests."
LIMITS = "limits."


@dataclass(frozen=True)
class GpuAllocation:
    """What a namespace's quotas mean in GPU-equivalents (units of each GPU resource times its weight).

    `guaranteed` is held for pods that are never preempted; `limit` is what the namespace
    may hold at most, guaranteed plus preemptible burst. `limit` includes the seed's
    `limits.nvidia.com/gpu`, which states intent but is not enforced. `whole_guaranteed`
    and `whole_limit` count `nvidia.com/gpu` alone, the resource enforced burst splits, and
    `largest_quota` is the most `nvidia.com/gpu` one quota holds.
    """

    guaranteed: Decimal
    limit: Decimal
    largest_quota: int
    whole_guaranteed: int = 0
    whole_limit: int = 0


@dataclass(frozen=True)
class GuaranteedGpuFinding:
    """GPUs a tier without guaranteed GPUs would guarantee after all: which quota and key, and why."""

    quota_name: str
    gpus: int | None  # None: pods at other PriorityClasses take GPUs without any bound
    key: str = GUARANTEED_GPU_KEY


class TierCatalog:
    """Every tier and GPU resource, read once, with the rules over them.

    Without `weights` and `allowed` (a migration's historical rows) every tier allows
    `nvidia.com/gpu` alone, at weight 1.
    """

    def __init__(
        self,
        tiers: Iterable[GpuTier],
        weights: dict[str, Decimal] | None = None,
        allowed: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        self.tiers = list(tiers)
        #: GPU resource name -> GPU-equivalents per unit.
        self.weights = dict(weights) if weights is not None else dict(WHOLE_GPU_WEIGHTS)
        #: tier id -> the GPU resources its namespaces may hold.
        self.allowed = allowed if allowed is not None else {tier.pk: (GPU_RESOURCE,) for tier in self.tiers}
        self.by_slug = {tier.slug: tier for tier in self.tiers}
        self.by_id = {tier.pk: tier for tier in self.tiers}
        self.by_priority_class = {tier.priority_class_name: tier for tier in self.tiers}
        #: PriorityClasses of the tiers that guarantee nothing: their pods may always be preempted.
        self.preemptible_classes = frozenset(
            tier.priority_class_name for tier in self.tiers if not tier.allows_guaranteed_gpus
        )

    @classmethod
    def load(cls) -> "TierCatalog":
        weights = dict(GpuResource.objects.values_list("name", "weight"))
        allowed: dict[int, list[str]] = defaultdict(list)
        for tier_id, name in GpuTier.gpu_resources.through.objects.order_by("gpuresource__name").values_list(
            "gputier_id", "gpuresource__name"
        ):
            allowed[tier_id].append(name)
        tiers = list(GpuTier.objects.all())
        return cls(tiers, weights, {tier.pk: tuple(allowed.get(tier.pk, ())) for tier in tiers})

    # GPU resources and their weights.

    def gpu_resource_of(self, key: object) -> str | None:
        """The GPU resource a quota key (`requests.<name>` or `limits.<name>`) counts, or None.

        A resource is a GPU resource when the catalog weighs it, or when it is NVIDIA's
        (`nvidia.com/...`): an unknown slice is still a GPU share, refused until a tier allows it.
        """
        if not isinstance(key, str):
            return None
        for prefix in (REQUESTS, LIMITS):
            if key.startswith(prefix):
                resource = key.removeprefix(prefix)
                return resource if resource in self.weights or resource.startswith("nvidia.com/") else None
        return None

    def gpu_equivalents(self, resource: str, units: int | Decimal) -> Decimal:
        """`units` of a GPU resource in GPU-equivalents; a resource without a weight counts as a whole GPU."""
        return Decimal(units) * self.weights.get(resource, Decimal(1))

    def allowed_gpu_resources(self, tier: GpuTier) -> tuple[str, ...]:
        return self.allowed.get(tier.pk, ())

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
        """Read the GPU numbers from a spec's quotas: every `requests.<GPU resource>`, weighted."""
        guaranteed = burst = Decimal(0)
        whole_guaranteed = whole_burst = declared_limit = largest = 0
        for quota in quotas:
            hard = quota.get("hard") or {}
            is_guaranteed = self.is_guaranteed(quota, tier)
            gpus = _whole(hard.get(GUARANTEED_GPU_KEY))
            declared_limit = max(declared_limit, _whole(hard.get(GPU_LIMIT_KEY)))
            largest = max(largest, gpus)
            if is_guaranteed:
                whole_guaranteed += gpus
            else:
                whole_burst += gpus
            for key, value in hard.items():
                resource = self.gpu_resource_of(key)
                if resource is None or not key.startswith(REQUESTS):
                    continue
                equivalents = self.gpu_equivalents(resource, _whole(value))
                if is_guaranteed:
                    guaranteed += equivalents
                else:
                    burst += equivalents
        return GpuAllocation(
            guaranteed,
            max(guaranteed + burst, Decimal(declared_limit)),
            largest,
            whole_guaranteed,
            max(whole_guaranteed + whole_burst, declared_limit),
        )

    def gpu_request_keys(self, hard: dict) -> list[str]:
        """The `requests.<GPU resource>` keys of a quota's hard, in its order."""
        return [key for key in hard if key.startswith(REQUESTS) and self.gpu_resource_of(key)]

    def guaranteed_gpu_findings(self, quotas: list[dict], tier: GpuTier) -> list[GuaranteedGpuFinding]:
        """Where a tier without guaranteed GPUs would guarantee some on a real cluster, per GPU resource.

        A quota with GPUs that admits pods at a class that is never preempted (no scope,
        `NotIn`, a guaranteed class) guarantees them whatever the tier says. And a quota
        scoped `In` the preemptible classes bounds only their pods: unless another quota
        caps the others' GPUs of that resource (or, for whole GPUs, the tier's enforced
        burst renders that cap), a pod naming any other class takes them without bound.
        """
        if tier.allows_guaranteed_gpus:
            return []
        keys = dict.fromkeys(key for quota in quotas for key in self.gpu_request_keys(quota.get("hard") or {}))
        findings = []
        for key in sorted(keys, key=lambda key: key != GUARANTEED_GPU_KEY):
            findings += self._guaranteed_findings_of(quotas, tier, key)
        return findings

    def _guaranteed_findings_of(self, quotas: list[dict], tier: GpuTier, key: str) -> list[GuaranteedGpuFinding]:
        findings = []
        preemptible_quota: str | None = None
        capped = False
        for quota in quotas:
            hard = quota.get("hard") or {}
            if key not in hard:
                continue
            gpus = _whole(hard[key])
            if self.admits_only_preemptible(quota):
                preemptible_quota = preemptible_quota or str(quota.get("name"))
            elif gpus:
                findings.append(GuaranteedGpuFinding(str(quota.get("name")), gpus, key))
            elif self._admits_every_other_class(quota):
                capped = True
        rendered_cap = key == GUARANTEED_GPU_KEY and tier.enforces_gpu_burst
        if preemptible_quota and not capped and not findings and not rendered_cap:
            findings.append(GuaranteedGpuFinding(preemptible_quota, None, key))
        return findings

    def _admits_every_other_class(self, quota: dict) -> bool:
        scope = scoped_priority_classes(quota)
        return scope is None or (scope[0] == "NotIn" and scope[1] <= self.preemptible_classes)


class PriceList:
    """Every rate, read in one query: what a unit-hour of a resource costs in a tier, on a cluster, on any day.

    A cluster's own rates (Rate.cluster) price its namespaces from the first of them on; before
    it, and on a cluster without any, the tier's general rates do. `cluster_id=None` asks for the
    general rate alone (the tier's list price, as the API shows it).
    """

    def __init__(self) -> None:
        self._days: dict[tuple, list[date]] = defaultdict(list)
        self._prices: dict[tuple, list[Decimal]] = defaultdict(list)
        rates = Rate.objects.order_by("effective_from").values_list(
            "tier_id", "cluster_id", "resource", "kind", "effective_from", "price"
        )
        for tier_id, cluster_id, resource, kind, effective_from, price in rates:
            self._days[tier_id, cluster_id, resource, kind].append(effective_from)
            self._prices[tier_id, cluster_id, resource, kind].append(price)

    def _rate(self, tier_id: int, resource: str, kind: str, day: date, cluster_id: int | None) -> tuple | None:
        """(effective_from, price, whether it is the cluster's own) of the rate in effect on `day`, or None."""
        keys = [(tier_id, cluster_id, resource, kind), (tier_id, None, resource, kind)]
        for key in keys if cluster_id is not None else keys[1:]:
            position = bisect_right(self._days.get(key, []), day)
            if position:
                return self._days[key][position - 1], self._prices[key][position - 1], key[1] is not None
        return None

    def price(self, tier_id: int, resource: str, kind: str, day: date, *, cluster_id: int | None) -> Decimal:
        """The price of one unit-hour in effect on `day` on the cluster; 0 before the first rate."""
        rate = self._rate(tier_id, resource, kind, day, cluster_id)
        return rate[1] if rate else Decimal(0)

    def effective_from(
        self, tier_id: int, resource: str, kind: str, day: date, *, cluster_id: int | None
    ) -> tuple[date, bool] | None:
        """(first day, whether it is the cluster's own rate) of the rate in effect on `day`: which price point applies.

        None before the first rate.
        """
        rate = self._rate(tier_id, resource, kind, day, cluster_id)
        return (rate[0], rate[2]) if rate else None

    def gpu_prices(self, tier: GpuTier, day: date) -> dict[str, Decimal]:
        """The tier's general GPU-hour prices on a day, by rate kind: reserved (guaranteed) and burst (used beyond)."""
        return {kind: self.price(tier.pk, Resource.GPU, kind, day, cluster_id=None) for kind in Rate.Kind.values}

    def change_days(self, start: date, end: date) -> list[date]:
        """Days in (start, end) on which some price changes, on any cluster: a report splits its periods there."""
        return sorted({day for days in self._days.values() for day in days if start < day < end})


def format_gpus(amount: Decimal | int | None) -> str:
    """GPU-equivalents as a page or message shows them: to the hundredth, without trailing zeros.

    Weights have six decimals (1/7 is 0.142857), so seven 1g.10gb slices are 0.999999 GPUs:
    shown as 1.
    """
    if amount is None:
        return ""
    rounded = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{rounded.normalize():f}"


def gpu_words(tier: GpuTier) -> str:
    """What a tier's `requests.nvidia.com/gpu` are called on a page: a best-effort tier guarantees none."""
    return "Guaranteed GPUs" if tier.allows_guaranteed_gpus else "Preemptible GPUs"


def gpu_share_words(catalog: TierCatalog, resource: str) -> str:
    """The help of a quota input for a MIG slice or shared GPU: what a unit is worth."""
    weight = catalog.weights.get(resource)
    if weight is None:
        return "Not in the tier catalog: no tier allows it, so set 0 or leave it empty."
    return (
        f"Each unit counts as {weight.normalize():f} of a GPU: in the namespace's guaranteed GPUs, against the "
        "cluster's capacity and in chargeback."
    )


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


def tier_default_spec(tier: GpuTier, prefix: str, catalog: TierCatalog | None = None) -> dict:
    """A new namespace's starting point: the tier's default quota and LimitRange, valid in the tier.

    Quotas are named `<prefix>-quota` (and `<prefix>-guaranteed`). In a tier without
    guaranteed GPUs the GPU quota counts only pods at the tier's PriorityClass, and
    (unless the tier's enforced burst renders it) a second quota holds 0 of each GPU
    resource the tier allows for every other pod: what `TierCatalog.guaranteed_gpu_findings`
    asks for. The LimitRange gives containers a default of 0 of every GPU resource the
    tier allows, so that no container is handed GPUs or slices it did not ask for.
    """
    catalog = catalog or TierCatalog.load()
    allowed = catalog.allowed_gpu_resources(tier)
    spec: dict = {"tier": tier.slug, "labels": {}, "quotas": [], "limitRange": {}}
    if tier.default_quota_hard:
        hard = dict(tier.default_quota_hard)
        if catalog.gpu_request_keys(hard):
            # Kubernetes bounds no resource a quota does not name: every share the tier allows starts at 0.
            for resource in allowed:
                hard.setdefault(f"requests.{resource}", "0")
        quota: dict = {"name": f"{prefix}-quota", "hard": hard}
        spec["quotas"] = [quota]
        if not tier.allows_guaranteed_gpus and catalog.gpu_request_keys(quota["hard"]):
            quota["scopeSelector"] = _priority_class_scope("In", tier.priority_class_name)
            caps = {f"requests.{resource}": "0" for resource in allowed}
            if tier.enforces_gpu_burst:
                caps.pop(GUARANTEED_GPU_KEY, None)
            if caps:
                spec["quotas"].append(
                    {
                        "name": f"{prefix}-guaranteed",
                        "hard": caps,
                        "scopeSelector": _priority_class_scope("NotIn", tier.priority_class_name),
                    }
                )
    if tier.default_limit_range:
        limits = copy.deepcopy(list(tier.default_limit_range))
        for item in limits:
            if item.get("type") == "Container":
                for bound in ("default", "defaultRequest"):
                    item[bound] = {**{resource: "0" for resource in allowed}, **(item.get(bound) or {})}
        spec["limitRange"] = {"name": "default-limits", "limits": limits}
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

    A rate prices every day from its own until the next rate of its tier, cluster (or none), resource
    and kind: that span (before and after the change) must not touch a closed month.
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
    """[effective_from, the next rate's day) of `rate` among its tier's, cluster's, resource's and kind's rates."""
    following = (
        Rate.objects.filter(
            tier_id=rate.tier_id,
            cluster_id=rate.cluster_id,  # None: the general rates (IS NULL)
            resource=rate.resource,
            kind=rate.kind,
            effective_from__gt=rate.effective_from,
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
