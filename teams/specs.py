"""The desired state of a namespace as one JSON document (what it means in GPUs is teams.catalog's).

A namespace's spec is `{"tier", "labels", "quotas", "limitRange"}`, with quotas and the
LimitRange in the Kubernetes shapes (`hard`, `scopeSelector`, `limits`) so that
rendering manifests is a direct mapping. A request carries only the sections its kind
may change; approval merges them into the namespace's current spec, so two requests
touching different sections never overwrite each other.
"""

from teams.models import Request, TeamNamespace

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


def scoped_priority_classes(quota: dict) -> tuple[str, set[str]] | None:
    """(operator, class names) of a quota's PriorityClass scope, or None when it has none."""
    for expression in (quota.get("scopeSelector") or {}).get("matchExpressions") or []:
        if isinstance(expression, dict) and expression.get("scopeName") == "PriorityClass":
            return expression.get("operator", ""), set(expression.get("values") or [])
    return None
