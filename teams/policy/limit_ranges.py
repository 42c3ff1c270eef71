"""The LimitRange: item types, min <= defaultRequest <= default <= max, and GPU defaults."""

from itertools import pairwise

from teams.constants import GPU_RESOURCE
from teams.limits import MAX_LIMIT_RANGE_ITEMS, MAX_LIMIT_RESOURCES, count_problem
from teams.policy.names import DNS_SUBDOMAIN
from teams.quantities import Quantity

LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")
LIMIT_FIELDS = ("min", "defaultRequest", "default", "max")  # the order they must respect


class LimitRangeRules:
    """The rules on the proposed LimitRange, including the seed's GPU max without a default."""

    def check_limit_range(self, limit_range: object) -> dict:
        if limit_range in (None, {}):
            return {}
        if not isinstance(limit_range, dict):
            self.report.error("limitRange", "Must be an object with name and limits.", "invalid")
            return {}
        name = limit_range.get("name")
        if not isinstance(name, str) or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            self.report.error("limitRange.name", "Required: a DNS-1123 subdomain such as ml-limit-range.", "invalid")
        limits = limit_range.get("limits")
        if not isinstance(limits, list) or not limits:
            self.report.error(
                "limitRange.limits",
                "List at least one limit (type Container, Pod or PersistentVolumeClaim).",
                "required",
            )
            return {"name": name, "limits": []}
        if too_many := count_problem("limits", len(limits), MAX_LIMIT_RANGE_ITEMS):
            self.report.error("limitRange.limits", too_many, "too_many")
            return {"name": name, "limits": []}
        normalised = []
        types_seen: set[str] = set()
        for index, item in enumerate(limits):
            if not isinstance(item, dict) or item.get("type") not in LIMIT_TYPES:
                self.report.error(
                    f"limitRange.limits[{index}].type", f"Must be one of {', '.join(LIMIT_TYPES)}.", "invalid"
                )
                continue
            kind = item["type"]
            if kind in types_seen:
                self.report.error(f"limitRange.limits[{kind}]", f"Only one limit of type {kind}.", "duplicate")
            types_seen.add(kind)
            normalised.append(self.check_limit(kind, item))
        return {"name": name, "limits": normalised}

    def check_limit(self, kind: str, item: dict) -> dict:
        prefix = f"limitRange.limits[{kind}]"
        result: dict = {"type": kind}
        parsed: dict[str, dict[str, Quantity]] = {}
        for key, values in item.items():
            if key == "type":
                continue
            if key not in LIMIT_FIELDS:
                self.report.error(f"{prefix}.{key}", f"Unknown field; use {', '.join(LIMIT_FIELDS)}.", "invalid")
                continue
            if key in ("default", "defaultRequest") and kind != "Container":
                self.report.error(f"{prefix}.{key}", f"{key} applies only to type Container.", "invalid")
                continue
            if not isinstance(values, dict):
                self.report.error(f"{prefix}.{key}", "Must map resource names to quantities.", "invalid")
                continue
            if too_many := count_problem("resources", len(values), MAX_LIMIT_RESOURCES):
                self.report.error(f"{prefix}.{key}", too_many, "too_many")
                continue
            parsed[key] = {}
            for resource, value in values.items():
                quantity = self.parse(f"{prefix}.{key}[{resource}]", value)
                if quantity is not None:
                    parsed[key][resource] = quantity
            result[key] = {resource: quantity.canonical() for resource, quantity in parsed[key].items()}
        self.check_limit_order(prefix, parsed)
        if kind == "Container":
            self.check_gpu_defaults(prefix, parsed)
        return result

    def check_limit_order(self, prefix: str, parsed: dict[str, dict[str, Quantity]]) -> None:
        resources = {resource for values in parsed.values() for resource in values}
        for resource in sorted(resources):
            present = [(key, parsed[key][resource]) for key in LIMIT_FIELDS if resource in parsed.get(key, {})]
            for (lower_key, lower), (upper_key, upper) in pairwise(present):
                if lower > upper:
                    self.report.error(
                        f"{prefix}.{lower_key}[{resource}]",
                        f"{lower_key} of {resource} ({lower}) must not exceed {upper_key} ({upper}); a LimitRange "
                        "needs min ≤ defaultRequest ≤ default ≤ max.",
                        "limit_order",
                    )

    def check_gpu_defaults(self, prefix: str, parsed: dict[str, dict[str, Quantity]]) -> None:
        """The seed's first mistake, for whole GPUs and every GPU share (MIG slice, time-sliced GPU) alike."""
        named = {resource for values in parsed.values() for resource in values}
        resources = sorted(
            (resource for resource in named if self.catalog.gpu_resource_of(f"requests.{resource}")),
            key=lambda resource: (resource != GPU_RESOURCE, resource),
        )
        for resource in resources:
            self.check_gpu_default(prefix, parsed, resource)

    def check_gpu_default(self, prefix: str, parsed: dict[str, dict[str, Quantity]], resource: str) -> None:
        maximum = parsed.get("max", {}).get(resource)
        default = parsed.get("default", {}).get(resource)
        default_request = parsed.get("defaultRequest", {}).get(resource)
        what = "GPUs" if resource == GPU_RESOURCE else f"units of {resource}"
        if maximum is not None and default is None:
            self.report.error(
                f"{prefix}.default[{resource}]",
                f"max of {resource} is {maximum} with no default: the API server then gives every container "
                f"that names no GPU a default limit and request of {maximum}, so a CPU-only pod takes {maximum} "
                f'{what} of the quota. Set default and defaultRequest of {resource} to "0".',
                "gpu_default_missing",
            )
        elif default is not None and default.value > 0:
            self.report.warn(
                f"{prefix}.default[{resource}]",
                f"Every container that names no GPU is given {default} of them: sidecars and CPU-only pods take "
                f'{what} of the quota. A default of "0" lets pods ask for GPUs explicitly.',
                "gpu_default_nonzero",
            )
        if default is not None and default_request is not None and default != default_request:
            self.report.error(
                f"{prefix}.defaultRequest[{resource}]",
                f"default ({default}) and defaultRequest ({default_request}) of {resource} must be equal: "
                "a GPU cannot be overcommitted, so the API server refuses a pod whose GPU request differs from "
                "its limit.",
                "gpu_default_mismatch",
            )


def container_limit(limit_range: dict) -> dict:
    for item in limit_range.get("limits") or []:
        if item.get("type") == "Container":
            return item
    return {}
