"""The desired state of a namespace as one JSON document, and what it means in GPUs.

A namespace's spec is `{"tier", "labels", "quotas", "limitRange"}`, with quotas and the
LimitRange in the Kubernetes shapes (`hard`, `scopeSelector`, `limits`) so that
rendering manifests is a direct mapping. A request carries only the sections its kind
may change; approval merges them into the namespace's current spec, so two requests
touching different sections never overwrite each other.
"""

from dataclasses import dataclass

from teams.constants import GPU_LIMIT_KEY, GUARANTEED_GPU_KEY
from teams.models import GpuTier, Request, TeamNamespace
from teams.quantities import QuantityError, parse_quantity

Kind = Request.Kind

#: The sections of the spec each kind of request may propose.
SECTIONS: dict[str, tuple[str, ...]] = {
    Kind.CREATE_NAMESPACE: ("tier", "labels", "quotas", "limitRange"),
    Kind.CHANGE_QUOTA: ("quotas",),
    Kind.CHANGE_LIMIT_RANGE: ("limitRange",),
    Kind.CHANGE_TIER: ("tier", "quotas"),
    Kind.DELETE_NAMESPACE: ("force",),
}


def namespace_spec(namespace: TeamNamespace) -> dict:
    """The namespace's desired state as a spec document."""
    return {
        "tier": namespace.tier.slug,
        "labels": dict(namespace.labels),
        "quotas": [dict(quota) for quota in namespace.quotas],
        "limitRange": dict(namespace.limit_range),
    }


def merge_spec(current: dict, proposed: dict) -> dict:
    """The spec after approval: the current one with the proposed sections replaced."""
    merged = dict(current)
    merged.update({key: value for key, value in proposed.items() if key != "force"})
    return merged


def tier_default_spec(tier: GpuTier, quota_name: str) -> dict:
    """A new namespace's starting point: the tier's default quota and LimitRange."""
    spec = {"tier": tier.slug, "labels": {}, "quotas": [], "limitRange": {}}
    if tier.default_quota_hard:
        spec["quotas"] = [{"name": quota_name, "hard": dict(tier.default_quota_hard)}]
    if tier.default_limit_range:
        spec["limitRange"] = {"name": "default-limits", "limits": list(tier.default_limit_range)}
    return spec


def scoped_priority_classes(quota: dict) -> tuple[str, set[str]] | None:
    """(operator, class names) of a quota's PriorityClass scope, or None when it has none."""
    for expression in (quota.get("scopeSelector") or {}).get("matchExpressions") or []:
        if isinstance(expression, dict) and expression.get("scopeName") == "PriorityClass":
            return expression.get("operator", ""), set(expression.get("values") or [])
    return None


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


def gpu_allocation(quotas: list[dict], tier: GpuTier, preemptible_classes: set[str]) -> GpuAllocation:
    """Read the GPU numbers from quotas.

    A quota counts as burst when every pod it admits runs at a preemptible PriorityClass:
    either it is scoped `In` only preemptible classes, or the whole tier is preemptible
    and the quota is not scoped to a guaranteed class.
    """
    guaranteed = burst = declared_limit = largest = 0
    for quota in quotas:
        hard = quota.get("hard") or {}
        gpus = _whole(hard.get(GUARANTEED_GPU_KEY))
        declared_limit = max(declared_limit, _whole(hard.get(GPU_LIMIT_KEY)))
        largest = max(largest, gpus)
        scope = scoped_priority_classes(quota)
        only_preemptible = scope is not None and scope[0] == "In" and scope[1] <= preemptible_classes
        guaranteed_scope = scope is not None and scope[0] == "In" and not scope[1] <= preemptible_classes
        if only_preemptible or (not tier.allows_guaranteed_gpus and not guaranteed_scope):
            burst += gpus
        else:
            guaranteed += gpus
    return GpuAllocation(guaranteed, max(guaranteed + burst, declared_limit), largest)


def _whole(value: object) -> int:
    if value is None:
        return 0
    try:
        return parse_quantity(value).as_int_ceiling()
    except QuantityError:
        return 0


def preemptible_classes(tiers) -> set[str]:
    """The PriorityClasses of the tiers that guarantee nothing: their pods may always be preempted."""
    return {tier.priority_class_name for tier in tiers if not tier.allows_guaranteed_gpus}
