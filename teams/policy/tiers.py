"""Tiers and GPUs: rules over the namespace as it would be after approval."""

from collections.abc import Iterable
from decimal import Decimal

from teams.catalog import format_gpus
from teams.constants import GPU_LIMIT_KEY, GPU_RESOURCE, GUARANTEED_GPU_KEY
from teams.models import GpuTier, Request
from teams.policy.limit_ranges import container_limit
from teams.quantities import QuantityError, parse_quantity
from teams.specs import merge_spec, namespace_spec

Kind = Request.Kind

COMPUTE_KEYS = {
    "requests.cpu": ("cpu", "defaultRequest"),
    "cpu": ("cpu", "defaultRequest"),
    "limits.cpu": ("cpu", "default"),
    "requests.memory": ("memory", "defaultRequest"),
    "memory": ("memory", "defaultRequest"),
    "limits.memory": ("memory", "default"),
}


class TierRules:
    """The tier's GPU rules and the warnings about what the whole spec would do on the cluster."""

    def check_tier(self, slug: object) -> None:
        if not isinstance(slug, str):
            self.report.error("tier", f"Must be a tier's slug, a string: one of {', '.join(self.tiers)}.", "invalid")
        elif slug not in self.tiers:
            self.report.error("tier", f"Unknown tier {slug!r}; choose one of {', '.join(self.tiers)}.", "invalid")

    def check_whole_spec(self, proposed: dict) -> None:
        current = namespace_spec(self.namespace) if self.namespace else {}
        spec = merge_spec(current, proposed)
        tier = self.tiers.get(spec.get("tier"))
        if tier is None:
            return
        quotas = spec.get("quotas") or []
        allocation = self.catalog.gpu_allocation(quotas, tier)
        gpu_field = self.gpu_field(quotas)
        if not tier.allows_guaranteed_gpus:
            self.check_no_guaranteed_gpus(quotas, tier)
        elif allocation.guaranteed > tier.max_guaranteed_gpus:
            self.report.error(
                gpu_field,
                f"{format_gpus(allocation.guaranteed)} guaranteed GPUs exceed the {tier.name} tier's maximum of "
                f"{tier.max_guaranteed_gpus} per namespace.",
                "tier_max_guaranteed",
            )
        if allocation.limit > tier.max_gpu_limit:
            self.report.error(
                _gpu_limit_field(quotas, allocation.limit) or gpu_field,
                f"A GPU limit of {format_gpus(allocation.limit)} exceeds the {tier.name} tier's maximum of "
                f"{tier.max_gpu_limit} per namespace.",
                "tier_max_limit",
            )
        if not tier.enforces_gpu_burst:
            self.warn_gpu_limit_not_enforced(quotas)
        self.check_gpu_max_fits(spec.get("limitRange") or {}, allocation.largest_quota)
        self.warn_compute_without_defaults(quotas, spec.get("limitRange") or {})
        if self.kind == Kind.CHANGE_QUOTA and self.namespace is not None:
            self.warn_below_usage(quotas)

    def check_gpu_resources_of(self, current: dict, proposed: dict) -> None:
        """The GPU resources of the namespace as it would be, whatever else is wrong with the request:
        each quota line is judged on its own, so every refused share is named at once. Only what the
        request changes is judged: a share the tier stopped allowing does not block another change."""
        if "quotas" not in proposed and "tier" not in proposed:
            return
        spec = merge_spec(current, proposed)
        tier = self.tiers.get(spec["tier"]) if isinstance(spec.get("tier"), str) else None
        quotas = spec.get("quotas")
        if tier is not None and isinstance(quotas, list):
            self.check_gpu_resources([quota for quota in quotas if isinstance(quota, dict)], tier)

    def check_gpu_resources(self, quotas: list[dict], tier: GpuTier) -> None:
        """Each GPU resource a quota holds must be one the tier allows, counted as `requests.<name>`."""
        allowed = self.catalog.allowed_gpu_resources(tier)
        for quota in quotas:
            for key, value in (quota.get("hard") or {}).items():
                resource = self.catalog.gpu_resource_of(key)
                if resource is None or resource == GPU_RESOURCE:
                    continue
                field_name = f"quotas[{quota.get('name')}].hard[{key}]"
                if key.startswith("limits."):
                    self.report.error(
                        field_name,
                        f"Kubernetes never counts or enforces {key}: for extended resources such as {resource} it "
                        f"tracks only requests.{resource}, and a pod's request must equal its limit. Use "
                        f"requests.{resource}.",
                        "gpu_limit_not_counted",
                    )
                elif resource not in allowed and _is_positive(value):
                    choices = ", ".join(allowed) or "none"
                    self.report.error(
                        field_name,
                        f"The {tier.name} tier does not allow {resource}; its GPU resources are {choices}. Ask "
                        "for one of those, or for a tier that allows this one.",
                        "gpu_resource_not_allowed",
                    )
        if GPU_RESOURCE not in allowed:
            for quota in quotas:
                value = (quota.get("hard") or {}).get(GUARANTEED_GPU_KEY)
                if value is not None and _is_positive(value):
                    self.report.error(
                        f"quotas[{quota.get('name')}].hard[{GUARANTEED_GPU_KEY}]",
                        f"The {tier.name} tier does not allow whole GPUs ({GPU_RESOURCE}); its GPU resources are "
                        f"{', '.join(allowed) or 'none'}.",
                        "gpu_resource_not_allowed",
                    )

    def check_no_guaranteed_gpus(self, quotas: list[dict], tier: GpuTier) -> None:
        """A tier without guaranteed GPUs: each GPU quota must count only pods at its preemptible classes."""
        own = tier.priority_class_name
        for finding in self.catalog.guaranteed_gpu_findings(quotas, tier):
            key = finding.key
            field_name = f"quotas[{finding.quota_name}].hard[{key}]"
            if finding.gpus is None:
                self.report.error(
                    field_name,
                    f"{tier.name} namespaces get 0 guaranteed GPUs, but this quota bounds only pods at preemptible "
                    "PriorityClasses: a pod naming any other class (or none) takes GPUs without bound. Add a quota "
                    f'with {key} "0" scoped to PriorityClass NotIn [{own}].',
                    "tier_no_guaranteed",
                )
            else:
                self.report.error(
                    field_name,
                    f"{tier.name} namespaces get 0 guaranteed GPUs, but this quota holds {finding.gpus} "
                    f"{'GPUs' if key == GUARANTEED_GPU_KEY else 'units of ' + key.removeprefix('requests.')} for "
                    "pods at a PriorityClass that is never preempted (a quota counts pods of every class its "
                    "scopeSelector does not exclude). "
                    f"Scope the quota to the tier's preemptible PriorityClass: a scopeSelector with scopeName "
                    f'PriorityClass, operator In, values [{own}], and add a quota with {key} "0" '
                    f"scoped NotIn [{own}] so that no other pod takes GPUs.",
                    "tier_no_guaranteed",
                )

    def warn_gpu_limit_not_enforced(self, quotas: list[dict]) -> None:
        for quota in quotas:
            limit = (quota.get("hard") or {}).get(GPU_LIMIT_KEY)
            if limit is None:
                continue
            self.report.warn(
                f"quotas[{quota.get('name')}].hard[{GPU_LIMIT_KEY}]",
                f"Kubernetes never counts or enforces {GPU_LIMIT_KEY}: for extended resources it tracks only "
                f"{GUARANTEED_GPU_KEY}, and a pod's GPU request must equal its limit. This line states an intent "
                f"({limit} GPUs) that no pod is held to; use the tier's enforced burst mode to make a burst limit "
                "real.",
                "gpu_limit_not_enforced",
            )

    def check_gpu_max_fits(self, limit_range: dict, largest_quota: int) -> None:
        container = container_limit(limit_range)
        maximum = container.get("max", {}).get(GPU_RESOURCE)
        if maximum is not None and parse_quantity(maximum).as_int_ceiling() > largest_quota:
            self.report.error(
                f"limitRange.limits[Container].max[{GPU_RESOURCE}]",
                f"max of {GPU_RESOURCE} ({maximum}) exceeds the namespace's GPU quota ({largest_quota}): a pod that "
                "size would pass the LimitRange only to be refused by the quota.",
                "gpu_max_above_quota",
            )

    def warn_compute_without_defaults(self, quotas: list[dict], limit_range: dict) -> None:
        container = container_limit(limit_range)
        for quota in quotas:
            for key in quota.get("hard") or {}:
                if key not in COMPUTE_KEYS:
                    continue
                resource, default_field = COMPUTE_KEYS[key]
                has_default = resource in container.get(default_field, {}) or resource in container.get("default", {})
                if not has_default:
                    self.report.warn(
                        f"quotas[{quota.get('name')}].hard[{key}]",
                        f"The quota constrains {key} but no LimitRange gives containers a {default_field} for "
                        f"{resource}: every pod here must then declare it, or the API server refuses the pod.",
                        "compute_without_default",
                    )

    def warn_below_usage(self, quotas: list[dict]) -> None:
        observed = self.namespace.observed_quotas or {}
        for quota in quotas:
            used = (observed.get(quota.get("name")) or {}).get("used") or {}
            for key, value in (quota.get("hard") or {}).items():
                if key not in used:
                    continue
                in_use = parse_quantity(used[key])
                if parse_quantity(value) < in_use:
                    self.report.warn(
                        f"quotas[{quota['name']}].hard[{key}]",
                        f"The new hard {key} ({value}) is below what the namespace uses now ({in_use}): running "
                        "pods keep running, but nothing new is admitted until usage falls below it.",
                        "below_usage",
                    )

    def gpu_field(self, quotas: Iterable[dict]) -> str:
        """The input a GPU total's error lands on: the first `requests.` of a GPU resource, whole GPUs first."""
        for quota in quotas:
            if GUARANTEED_GPU_KEY in (quota.get("hard") or {}):
                return f"quotas[{quota.get('name')}].hard[{GUARANTEED_GPU_KEY}]"
        for quota in quotas:
            if keys := self.catalog.gpu_request_keys(quota.get("hard") or {}):
                return f"quotas[{quota.get('name')}].hard[{keys[0]}]"
        return "quotas"


def _is_positive(value: object) -> bool:
    """Whether a quota amount grants something; one that does not parse is the quantity rule's to name."""
    try:
        return parse_quantity(value).value > 0
    except QuantityError:
        return False


def _gpu_limit_field(quotas: Iterable[dict], limit: Decimal) -> str | None:
    """The quota key that declares `limit` GPUs, when a declared limit (not the sum of requests) sets it."""
    for quota in quotas:
        declared = (quota.get("hard") or {}).get(GPU_LIMIT_KEY)
        if declared is not None and parse_quantity(declared).as_int_ceiling() == limit:
            return f"quotas[{quota.get('name')}].hard[{GPU_LIMIT_KEY}]"
    return None
