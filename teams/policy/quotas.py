"""ResourceQuotas: their names, the resources they may limit, and requests never above limits."""

from teams.limits import MAX_QUOTA_KEYS, MAX_QUOTAS, count_problem
from teams.policy.names import DNS_SUBDOMAIN, QUALIFIED_NAME
from teams.quantities import Quantity

#: Quota keys that count objects, so only whole numbers make sense.
OBJECT_COUNT_KEYS = frozenset(
    {
        "pods",
        "services",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "resourcequotas",
        "services.loadbalancers",
        "services.nodeports",
    }
)
#: Kubernetes' standard quota resource names (helper.standardQuotaResources in 1.20).
STANDARD_QUOTA_KEYS = OBJECT_COUNT_KEYS | {
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
}


class QuotaRules:
    """The rules on each proposed ResourceQuota and its `hard` map."""

    def check_quotas(self, quotas: object) -> list:
        if not isinstance(quotas, list) or not quotas:
            self.report.error(
                "quotas",
                "A namespace needs at least one ResourceQuota, or its team could take every GPU of the cluster.",
                "required",
            )
            return quotas if isinstance(quotas, list) else []
        if too_many := count_problem("ResourceQuotas", len(quotas), MAX_QUOTAS):
            self.report.error("quotas", too_many, "too_many")
            return []
        seen: set[str] = set()
        normalised = []
        for index, quota in enumerate(quotas):
            if not isinstance(quota, dict):
                self.report.error(f"quotas[{index}]", "Must be an object with name and hard.", "invalid")
                continue
            name = quota.get("name")
            if not isinstance(name, str) or not name:
                self.report.error(f"quotas[{index}].name", "This field is required.", "required")
                name = str(index)
            elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
                self.report.error(f"quotas[{index}].name", f"{name!r} is not a DNS-1123 subdomain.", "invalid")
            elif name in seen:
                self.report.error(f"quotas[{index}].name", f"Two quotas are named {name!r}.", "duplicate")
            seen.add(name)
            unknown = set(quota) - {"name", "hard", "scopeSelector"}
            for key in sorted(unknown):
                self.report.error(
                    f"quotas[{name}].{key}", "Unknown field; a quota has name, hard and scopeSelector.", "invalid"
                )
            hard = self.check_hard(name, quota.get("hard"))
            result = {"name": name, "hard": hard}
            if quota.get("scopeSelector") is not None:
                result["scopeSelector"] = quota["scopeSelector"]
                self.check_scope(name, quota["scopeSelector"], hard)
            normalised.append(result)
        return normalised

    def check_hard(self, quota_name: str, hard: object) -> dict[str, str]:
        prefix = f"quotas[{quota_name}].hard"
        if not isinstance(hard, dict) or not hard:
            self.report.error(prefix, "List at least one resource and its hard limit.", "required")
            return {}
        if too_many := count_problem("resources in a quota", len(hard), MAX_QUOTA_KEYS):
            self.report.error(prefix, too_many, "too_many")
            return {}
        parsed: dict[str, Quantity] = {}
        for key, value in hard.items():
            field_name = f"{prefix}[{key}]"
            if not _is_quota_key(key):
                self.report.error(field_name, f"{key!r} is not a resource a ResourceQuota can limit.", "invalid")
                continue
            quantity = self.parse(field_name, value)
            if quantity is None:
                continue
            if (key in OBJECT_COUNT_KEYS or key.startswith("count/") or self.catalog.gpu_resource_of(key)) and (
                quantity.value != quantity.value.to_integral_value()
            ):
                self.report.error(field_name, f"{key} counts whole units; {value!r} is not a whole number.", "invalid")
            parsed[key] = quantity
        for key, request in parsed.items():
            if key.startswith("requests."):
                limit_key = "limits." + key.removeprefix("requests.")
                if limit_key in parsed and request > parsed[limit_key]:
                    # Either may be the one to change: both inputs say so.
                    message = f"{key} ({request}) must not exceed {limit_key} ({parsed[limit_key]})."
                    self.report.error(f"{prefix}[{key}]", message, "requests_above_limits")
                    self.report.error(f"{prefix}[{limit_key}]", message, "requests_above_limits")
        return {key: quantity.canonical() for key, quantity in parsed.items()}


def _is_quota_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    if key in STANDARD_QUOTA_KEYS or key.startswith("count/"):
        return True
    if key.startswith(("requests.", "limits.")) and "/" in key:
        return bool(QUALIFIED_NAME.match(key.split(".", 1)[1]))
    return key.endswith(
        (".storageclass.storage.k8s.io/requests.storage", ".storageclass.storage.k8s.io/persistentvolumeclaims")
    )
