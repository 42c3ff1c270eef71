"""What a request may ask for: every rule a submission is checked against, in one place.

The rules are the API server's own (names, quantities, scopes, LimitRange defaulting)
plus the portal's (tiers, GPUs). Each finding names the field it is about. Errors stop
a request before anything is stored; warnings are stored with it and shown to
approvers. The seed's three mistakes each have a rule here whose message explains
what the API server would do with them and how to fix them.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise

from django.core.exceptions import ValidationError

from teams.catalog import TierCatalog
from teams.constants import GPU_LIMIT_KEY, GPU_RESOURCE, GUARANTEED_GPU_KEY
from teams.models import GpuTier, Request, Team, TeamNamespace
from teams.quantities import Quantity, QuantityError, parse_quantity
from teams.specs import SECTIONS, merge_spec, namespace_spec, resolve_proposal, spec_changes

Kind = Request.Kind

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")

RESERVED_NAMES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
RESERVED_PREFIXES = ("kube-", "openshift-")

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
#: What a quota with a Terminating/NotTerminating/NotBestEffort/PriorityClass scope may hold.
POD_SCOPED_KEYS = frozenset({"pods", "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
QUOTA_SCOPES = ("PriorityClass", "Terminating", "NotTerminating", "BestEffort", "NotBestEffort")
SCOPE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")
LIMIT_FIELDS = ("min", "defaultRequest", "default", "max")  # the order they must respect
COMPUTE_KEYS = {
    "requests.cpu": ("cpu", "defaultRequest"),
    "cpu": ("cpu", "defaultRequest"),
    "limits.cpu": ("cpu", "default"),
    "requests.memory": ("memory", "defaultRequest"),
    "memory": ("memory", "defaultRequest"),
    "limits.memory": ("memory", "default"),
}


@dataclass(frozen=True)
class Finding:
    field: str
    message: str
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "code": self.code}


class PolicyError(ValidationError):
    """A request that breaks policy; `message_dict` maps each field to its messages."""

    def __init__(self, report: "PolicyReport") -> None:
        self.report = report
        super().__init__(report.error_dict())


@dataclass
class PolicyReport:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    #: The proposed sections, resolved (each whole), with every quantity in canonical form.
    proposed: dict = field(default_factory=dict)
    #: What approval would change, row by row (teams.specs.spec_changes); empty until valid.
    changes: list[dict] = field(default_factory=list)

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def error(self, field_name: str, message: str, code: str) -> None:
        self.errors.append(Finding(field_name, message, code))

    def warn(self, field_name: str, message: str, code: str) -> None:
        self.warnings.append(Finding(field_name, message, code))

    def error_dict(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for finding in self.errors:
            result.setdefault(finding.field, []).append(finding.message)
        return result

    def raise_for_errors(self) -> None:
        if self.errors:
            raise PolicyError(self)


def check_request(
    kind: str,
    *,
    team: Team,
    namespace_name: str,
    proposed: object,
    namespace: TeamNamespace | None = None,
    request_id: int | None = None,
    resolved: bool = False,
) -> PolicyReport:
    """Check what a request proposes, given the cluster's desired state now.

    `request_id` is the request being re-checked at approval, which must not count as
    its own competitor for the namespace name. `resolved` says `proposed` is a stored
    proposal, already merged (whole sections), rather than a merge patch.
    """
    checker = _Checker(kind, team, namespace_name, proposed, namespace, request_id)
    checker.resolved = resolved
    return checker.run()


def check_namespace_spec(*, team: Team, spec: dict) -> PolicyReport:
    """Check a whole namespace spec's content, without the rules on its name.

    For namespaces that come from outside the request flow: the seed's world, adoption.
    """
    checker = _Checker(Kind.CREATE_NAMESPACE, team, "", spec, None, None)
    checker.check_name = False
    return checker.run()


class _Checker:
    def __init__(self, kind, team, namespace_name, proposed, namespace, request_id) -> None:
        self.kind = kind
        self.team = team
        self.name = namespace_name or ""
        self.raw = proposed
        self.namespace = namespace
        self.request_id = request_id
        self.check_name = True
        self.resolved = False
        self.report = PolicyReport()
        self.catalog = TierCatalog.load()
        self.tiers = self.catalog.by_slug
        self.class_names = self.catalog.by_priority_class

    def run(self) -> PolicyReport:
        if self.kind not in SECTIONS:
            self.report.error("kind", f"Unknown kind {self.kind!r}; choose one of {', '.join(SECTIONS)}.", "invalid")
            return self.report
        if not isinstance(self.raw, dict):
            self.report.error("proposed_spec", "Must be an object with the sections to change.", "invalid")
            return self.report
        allowed = SECTIONS[self.kind]
        for key in self.raw:
            if key not in allowed:
                self.report.error(
                    key,
                    f"A {Kind(self.kind).label.lower()} request cannot change {key}; it may propose "
                    f"{', '.join(allowed)}.",
                    "not_allowed",
                )
        self.check_target()
        # A request is a merge patch over the namespace's spec: resolve it once, check the result.
        current = namespace_spec(self.namespace) if self.namespace else {}
        proposed = {key: value for key, value in self.raw.items() if key in allowed}
        if not self.resolved:
            resolution = resolve_proposal(self.kind, current, proposed)
            for field_name, message in resolution.errors:
                self.report.error(field_name, message, "nothing_to_remove")
            proposed = resolution.spec
        self.report.proposed = proposed
        if self.kind == Kind.DELETE_NAMESPACE:
            self.check_force(proposed)
            return self.report
        if self.kind == Kind.CREATE_NAMESPACE:
            for key in ("tier", "quotas"):
                if key not in proposed:
                    self.report.error(key, "This field is required.", "required")
        if self.kind == Kind.CHANGE_TIER and "tier" not in proposed:
            self.report.error("tier", "This field is required.", "required")
        if "tier" in proposed:
            self.check_tier(proposed["tier"])
        if "labels" in proposed:
            self.check_labels(proposed["labels"])
        if "quotas" in proposed:
            proposed["quotas"] = self.check_quotas(proposed["quotas"])
        elif self.kind == Kind.CHANGE_QUOTA:
            self.report.error("quotas", "This field is required.", "required")
        if "limitRange" in proposed:
            proposed["limitRange"] = self.check_limit_range(proposed["limitRange"])
        elif self.kind == Kind.CHANGE_LIMIT_RANGE:
            self.report.error("limitRange", "This field is required.", "required")
        if self.report.is_valid:
            self.check_whole_spec(proposed)
            self.check_changes(current, proposed)
        return self.report

    def check_changes(self, current: dict, proposed: dict) -> None:
        """A change request must change something; a tier change, the tier."""
        if not self.report.is_valid:
            return
        self.report.changes = spec_changes(current, proposed)
        if self.kind == Kind.CREATE_NAMESPACE:
            return
        if self.kind == Kind.CHANGE_TIER and not any(row["field"] == "tier" for row in self.report.changes):
            message = f"Nothing to change: the namespace is already in the {current['tier']} tier."
            self.report.error("tier", message, "nothing_to_change")
        elif not self.report.changes:
            self.report.error(
                SECTIONS[self.kind][0],
                "Nothing to change: this request leaves the namespace as it is.",
                "nothing_to_change",
            )

    # The namespace the request is about.

    def check_target(self) -> None:
        if self.kind == Kind.CREATE_NAMESPACE:
            if self.check_name:
                self.check_new_name()
            return
        namespace = self.namespace
        if namespace is None or namespace.deleted_at is not None:
            self.report.error("namespace", "Choose an existing namespace of the team.", "required")
        elif namespace.team_id != self.team.pk:
            self.report.error("namespace", f"{namespace.name} does not belong to team {self.team.slug}.", "invalid")
        elif namespace.deletion_requested_at is not None:
            self.report.error("namespace", f"{namespace.name} is being deleted.", "invalid")

    def check_new_name(self) -> None:
        name = self.name
        field_name = "namespace_name"
        if not name:
            self.report.error(field_name, "This field is required.", "required")
        elif len(name) > 63:
            self.report.error(
                field_name, f"Must be at most 63 characters (a DNS-1123 label); it has {len(name)}.", "invalid"
            )
        elif not _DNS_LABEL.match(name):
            self.report.error(
                field_name,
                f"{name!r} is not a DNS-1123 label: use lower-case letters, digits and '-', starting and ending "
                "with a letter or digit.",
                "invalid",
            )
        elif is_reserved_namespace(name):
            self.report.error(
                field_name, f"{name!r} is reserved for the cluster itself (default, kube-*, openshift-*).", "reserved"
            )
        elif TeamNamespace.objects.live().filter(name=name).exists():
            self.report.error(field_name, f"A namespace named {name!r} already exists.", "taken")
        else:
            competing = Request.objects.filter(
                kind=Kind.CREATE_NAMESPACE, namespace_name=name, state__in=Request.OPEN_STATES
            ).exclude(pk=self.request_id)
            if other := competing.first():
                self.report.error(field_name, f"{name!r} is already asked for by request #{other.pk}.", "taken")

    def check_force(self, proposed: dict) -> None:
        if not isinstance(proposed.get("force", False), bool):
            self.report.error("force", "Must be true or false.", "invalid")

    def check_tier(self, slug: object) -> None:
        if slug not in self.tiers:
            self.report.error("tier", f"Unknown tier {slug!r}; choose one of {', '.join(self.tiers)}.", "invalid")

    def check_labels(self, labels: object) -> None:
        if not isinstance(labels, dict):
            self.report.error("labels", "Must be an object of label keys and values.", "invalid")
            return
        for key, value in labels.items():
            if key in ("team", "cost-center", "gpu-tier") or "kubernetes.io/" in key:
                self.report.error(f"labels[{key}]", "Set by the portal; it cannot be proposed.", "reserved")
            elif not _QUALIFIED.match(str(key)) or not isinstance(value, str) or len(value) > 63:
                self.report.error(
                    f"labels[{key}]",
                    "Must be a valid label key with a string value of at most 63 characters.",
                    "invalid",
                )

    # ResourceQuotas.

    def check_quotas(self, quotas: object) -> list:
        if not isinstance(quotas, list) or not quotas:
            self.report.error(
                "quotas",
                "A namespace needs at least one ResourceQuota, or its team could take every GPU of the cluster.",
                "required",
            )
            return quotas if isinstance(quotas, list) else []
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
            elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
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
        parsed: dict[str, Quantity] = {}
        for key, value in hard.items():
            field_name = f"{prefix}[{key}]"
            if not _is_quota_key(key):
                self.report.error(field_name, f"{key!r} is not a resource a ResourceQuota can limit.", "invalid")
                continue
            quantity = self.parse(field_name, value)
            if quantity is None:
                continue
            if (key in OBJECT_COUNT_KEYS or key.startswith("count/") or GPU_RESOURCE in key) and (
                quantity.value != quantity.value.to_integral_value()
            ):
                self.report.error(field_name, f"{key} counts whole units; {value!r} is not a whole number.", "invalid")
            parsed[key] = quantity
        for key, request in parsed.items():
            if key.startswith("requests."):
                limit_key = "limits." + key.removeprefix("requests.")
                if limit_key in parsed and request > parsed[limit_key]:
                    self.report.error(
                        f"{prefix}[{key}]",
                        f"{key} ({request}) must not exceed {limit_key} ({parsed[limit_key]}).",
                        "requests_above_limits",
                    )
        return {key: quantity.canonical() for key, quantity in parsed.items()}

    def check_scope(self, quota_name: str, selector: object, hard: dict[str, str]) -> None:
        prefix = f"quotas[{quota_name}].scopeSelector"
        expressions = selector.get("matchExpressions") if isinstance(selector, dict) else None
        if not isinstance(expressions, list) or not expressions:
            self.report.error(prefix, "Must hold matchExpressions: [{scopeName, operator, values}].", "invalid")
            return
        for index, expression in enumerate(expressions):
            where = f"{prefix}.matchExpressions[{index}]"
            if not isinstance(expression, dict):
                self.report.error(where, "Must be an object with scopeName, operator and values.", "invalid")
                continue
            scope, operator = expression.get("scopeName"), expression.get("operator")
            values = expression.get("values") or []
            if scope not in QUOTA_SCOPES:
                self.report.error(
                    f"{where}.scopeName", f"Unknown scope {scope!r}; use one of {', '.join(QUOTA_SCOPES)}.", "invalid"
                )
                continue
            if operator not in SCOPE_OPERATORS:
                self.report.error(
                    f"{where}.operator",
                    f"Unknown operator {operator!r}; use one of {', '.join(SCOPE_OPERATORS)}.",
                    "invalid",
                )
            elif (operator in ("In", "NotIn")) != bool(values):
                self.report.error(
                    f"{where}.values", f"{operator} needs values; Exists and DoesNotExist take none.", "invalid"
                )
            if scope == "PriorityClass":
                self.check_priority_class_names(f"{where}.values", values)
            self.check_scoped_keys(quota_name, scope, hard)

    def check_priority_class_names(self, field_name: str, values: list) -> None:
        known = ", ".join(sorted(self.class_names))
        for value in values:
            if value in self.class_names:
                continue
            guess = self.guess_priority_class(str(value))
            hint = f' Did you mean "{guess}"?' if guess else ""
            self.report.error(
                field_name,
                f'PriorityClass "{value}" does not exist, so this quota matches no pod and leaves the namespace '
                f"unconstrained.{hint} The portal's PriorityClasses are {known}.",
                "unknown_priority_class",
            )

    def guess_priority_class(self, value: str) -> str | None:
        if value in self.tiers:
            return self.tiers[value].priority_class_name
        for name in sorted(self.class_names):
            if name.endswith("-" + value) or name.removeprefix("ml-").startswith(value):
                return name
        return None

    def check_scoped_keys(self, quota_name: str, scope: str, hard: dict[str, str]) -> None:
        allowed = {"pods"} if scope == "BestEffort" else POD_SCOPED_KEYS
        for key in hard:
            if key in STANDARD_QUOTA_KEYS and key not in allowed:
                self.report.error(
                    f"quotas[{quota_name}].hard[{key}]",
                    f"{key} cannot be limited by a quota with a {scope} scope: the API server rejects the whole "
                    'object ("unsupported scope applied to resource"). A scoped quota may hold only '
                    f"{', '.join(sorted(allowed))} and extended resources such as {GUARANTEED_GPU_KEY}; put {key} "
                    "in a second quota without a scopeSelector.",
                    "unsupported_scope",
                )

    # The LimitRange.

    def check_limit_range(self, limit_range: object) -> dict:
        if limit_range in (None, {}):
            return {}
        if not isinstance(limit_range, dict):
            self.report.error("limitRange", "Must be an object with name and limits.", "invalid")
            return {}
        name = limit_range.get("name")
        if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name):
            self.report.error("limitRange.name", "Required: a DNS-1123 subdomain such as ml-limit-range.", "invalid")
        limits = limit_range.get("limits")
        if not isinstance(limits, list) or not limits:
            self.report.error(
                "limitRange.limits",
                "List at least one limit (type Container, Pod or PersistentVolumeClaim).",
                "required",
            )
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
        maximum = parsed.get("max", {}).get(GPU_RESOURCE)
        default = parsed.get("default", {}).get(GPU_RESOURCE)
        default_request = parsed.get("defaultRequest", {}).get(GPU_RESOURCE)
        if maximum is not None and default is None:
            self.report.error(
                f"{prefix}.default[{GPU_RESOURCE}]",
                f"max of {GPU_RESOURCE} is {maximum} with no default: the API server then gives every container "
                f"that names no GPU a default limit and request of {maximum}, so a CPU-only pod takes {maximum} "
                f'GPUs of the quota. Set default and defaultRequest of {GPU_RESOURCE} to "0".',
                "gpu_default_missing",
            )
        elif default is not None and default.value > 0:
            self.report.warn(
                f"{prefix}.default[{GPU_RESOURCE}]",
                f"Every container that names no GPU is given {default} of them: sidecars and CPU-only pods take "
                f'GPUs of the quota. A default of "0" lets pods ask for GPUs explicitly.',
                "gpu_default_nonzero",
            )
        if default is not None and default_request is not None and default != default_request:
            self.report.error(
                f"{prefix}.defaultRequest[{GPU_RESOURCE}]",
                f"default ({default}) and defaultRequest ({default_request}) of {GPU_RESOURCE} must be equal: "
                "a GPU cannot be overcommitted, so the API server refuses a pod whose GPU request differs from "
                "its limit.",
                "gpu_default_mismatch",
            )

    # Rules over the namespace as it would be after approval.

    def check_whole_spec(self, proposed: dict) -> None:
        current = namespace_spec(self.namespace) if self.namespace else {}
        spec = merge_spec(current, proposed)
        tier = self.tiers.get(spec.get("tier"))
        if tier is None:
            return
        quotas = spec.get("quotas") or []
        allocation = self.catalog.gpu_allocation(quotas, tier)
        gpu_field = _gpu_field(quotas)
        if not tier.allows_guaranteed_gpus:
            self.check_no_guaranteed_gpus(quotas, tier)
        elif allocation.guaranteed > tier.max_guaranteed_gpus:
            self.report.error(
                gpu_field,
                f"{allocation.guaranteed} guaranteed GPUs exceed the {tier.name} tier's maximum of "
                f"{tier.max_guaranteed_gpus} per namespace.",
                "tier_max_guaranteed",
            )
        if allocation.limit > tier.max_gpu_limit:
            self.report.error(
                gpu_field,
                f"A GPU limit of {allocation.limit} exceeds the {tier.name} tier's maximum of {tier.max_gpu_limit} "
                "per namespace.",
                "tier_max_limit",
            )
        if not tier.enforces_gpu_burst:
            self.warn_gpu_limit_not_enforced(quotas)
        self.check_gpu_max_fits(spec.get("limitRange") or {}, allocation.largest_quota)
        self.warn_compute_without_defaults(quotas, spec.get("limitRange") or {})
        if self.kind == Kind.CHANGE_QUOTA and self.namespace is not None:
            self.warn_below_usage(quotas)

    def check_no_guaranteed_gpus(self, quotas: list[dict], tier: GpuTier) -> None:
        """A tier without guaranteed GPUs: each GPU quota must count only pods at its preemptible classes."""
        own = tier.priority_class_name
        for finding in self.catalog.guaranteed_gpu_findings(quotas, tier):
            field_name = f"quotas[{finding.quota_name}].hard[{GUARANTEED_GPU_KEY}]"
            if finding.gpus is None:
                self.report.error(
                    field_name,
                    f"{tier.name} namespaces get 0 guaranteed GPUs, but this quota bounds only pods at preemptible "
                    "PriorityClasses: a pod naming any other class (or none) takes GPUs without bound. Add a quota "
                    f'with {GUARANTEED_GPU_KEY} "0" scoped to PriorityClass NotIn [{own}].',
                    "tier_no_guaranteed",
                )
            else:
                self.report.error(
                    field_name,
                    f"{tier.name} namespaces get 0 guaranteed GPUs, but this quota holds {finding.gpus} GPUs for "
                    "pods at a PriorityClass that is never preempted (a quota counts pods of every class its "
                    "scopeSelector does not exclude). "
                    f"Scope the quota to the tier's preemptible PriorityClass: a scopeSelector with scopeName "
                    f'PriorityClass, operator In, values [{own}], and add a quota with {GUARANTEED_GPU_KEY} "0" '
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
        container = _container_limit(limit_range)
        maximum = container.get("max", {}).get(GPU_RESOURCE)
        if maximum is not None and parse_quantity(maximum).as_int_ceiling() > largest_quota:
            self.report.error(
                f"limitRange.limits[Container].max[{GPU_RESOURCE}]",
                f"max of {GPU_RESOURCE} ({maximum}) exceeds the namespace's GPU quota ({largest_quota}): a pod that "
                "size would pass the LimitRange only to be refused by the quota.",
                "gpu_max_above_quota",
            )

    def warn_compute_without_defaults(self, quotas: list[dict], limit_range: dict) -> None:
        container = _container_limit(limit_range)
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

    def parse(self, field_name: str, value: object) -> Quantity | None:
        try:
            return parse_quantity(value)
        except QuantityError as error:
            self.report.error(field_name, f"Not a valid quantity: {error}.", "invalid_quantity")
            return None


def is_reserved_namespace(name: str) -> bool:
    """Namespaces of the cluster itself, which the portal never creates nor touches."""
    return name in RESERVED_NAMES or name.startswith(RESERVED_PREFIXES)


def _is_quota_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    if key in STANDARD_QUOTA_KEYS or key.startswith("count/"):
        return True
    if key.startswith(("requests.", "limits.")) and "/" in key:
        return bool(_QUALIFIED.match(key.split(".", 1)[1]))
    return key.endswith(
        (".storageclass.storage.k8s.io/requests.storage", ".storageclass.storage.k8s.io/persistentvolumeclaims")
    )


def _container_limit(limit_range: dict) -> dict:
    for item in limit_range.get("limits") or []:
        if item.get("type") == "Container":
            return item
    return {}


def _gpu_field(quotas: Iterable[dict]) -> str:
    for quota in quotas:
        if GUARANTEED_GPU_KEY in (quota.get("hard") or {}):
            return f"quotas[{quota.get('name')}].hard[{GUARANTEED_GPU_KEY}]"
    return "quotas"
