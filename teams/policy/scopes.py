"""Quota scopes: which scopes and operators exist, which PriorityClasses, and what a scoped quota may hold."""

from teams.constants import GUARANTEED_GPU_KEY
from teams.limits import MAX_SCOPE_EXPRESSIONS, MAX_SCOPE_VALUES, count_problem
from teams.policy.quotas import STANDARD_QUOTA_KEYS

#: What a quota with a Terminating/NotTerminating/NotBestEffort/PriorityClass scope may hold.
POD_SCOPED_KEYS = frozenset({"pods", "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
QUOTA_SCOPES = ("PriorityClass", "Terminating", "NotTerminating", "BestEffort", "NotBestEffort")
SCOPE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class ScopeRules:
    """The rules on a quota's scopeSelector, including the seed's misnamed PriorityClasses."""

    def check_scope(self, quota_name: str, selector: object, hard: dict[str, str]) -> None:
        prefix = f"quotas[{quota_name}].scopeSelector"
        expressions = selector.get("matchExpressions") if isinstance(selector, dict) else None
        if not isinstance(expressions, list) or not expressions:
            self.report.error(prefix, "Must hold matchExpressions: [{scopeName, operator, values}].", "invalid")
            return
        if too_many := count_problem("scope expressions", len(expressions), MAX_SCOPE_EXPRESSIONS):
            self.report.error(f"{prefix}.matchExpressions", too_many, "too_many")
            return
        for index, expression in enumerate(expressions):
            where = f"{prefix}.matchExpressions[{index}]"
            if not isinstance(expression, dict):
                self.report.error(where, "Must be an object with scopeName, operator and values.", "invalid")
                continue
            scope, operator = expression.get("scopeName"), expression.get("operator")
            values = expression.get("values") or []
            if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
                self.report.error(f"{where}.values", "Must be a list of strings.", "invalid")
                continue
            if too_many := count_problem("values", len(values), MAX_SCOPE_VALUES):
                self.report.error(f"{where}.values", too_many, "too_many")
                continue
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
