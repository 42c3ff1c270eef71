"""The desired state of a namespace as one JSON document (what it means in GPUs is teams.catalog's).

A namespace's spec is `{"tier", "labels", "quotas", "limitRange"}`, with quotas and the
LimitRange in the Kubernetes shapes (`hard`, `scopeSelector`, `limits`) so that
rendering manifests is a direct mapping. A request carries only the sections its kind
may change, as a merge patch over the namespace's current spec (resolve_proposal): what
it omits is kept, and a removal is always explicit. It is stored resolved, each section
it touches whole, and approval puts those sections in place, so two requests touching
different sections never overwrite each other.
"""

import copy
import json
import re
from dataclasses import dataclass, field

from teams.constants import QUOTA_KEY_ORDER
from teams.models import Request, TeamNamespace
from teams.quantities import QuantityError, parse_quantity

Kind = Request.Kind
Change = Request.Change

#: Names the quotas a request removes whole.
REMOVE_QUOTAS = "removeQuotas"
#: Names the LimitRange items (by type) a request removes whole.
REMOVE_LIMITS = "removeLimits"

#: The sections of the spec each kind of request may propose, and the removals it may name.
SECTIONS: dict[str, tuple[str, ...]] = {
    Kind.CREATE_NAMESPACE: ("tier", "labels", "quotas", "limitRange"),
    Kind.CHANGE_QUOTA: ("quotas", REMOVE_QUOTAS),
    Kind.CHANGE_LIMIT_RANGE: ("limitRange", REMOVE_LIMITS),
    Kind.CHANGE_TIER: ("tier", "quotas", REMOVE_QUOTAS),
    Kind.DELETE_NAMESPACE: ("force",),
    Kind.DOWNSIZE_QUOTA: ("quotas", "limitRange"),
}

#: Kinds only the system proposes (teams.workflow.propose_downsize); a team lead asks with change_quota.
SYSTEM_KINDS = frozenset({Kind.DOWNSIZE_QUOTA})


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


@dataclass
class Resolution:
    """A request's proposal resolved against the current spec.

    `spec` holds each section the request touches, whole; `errors` are (field, message)
    pairs for removals of what is not there. Anything of the wrong shape is passed through
    unmerged, for the policy to name.
    """

    spec: dict
    errors: list[tuple[str, str]] = field(default_factory=list)


def resolve_proposal(kind: str, current: dict, raw: dict) -> Resolution:
    """Merge a request's proposal into the current spec: what it omits is kept.

    `null` for a key removes it (a quota's hard limit or scopeSelector, a LimitRange
    item's bound, the LimitRange itself); `removeQuotas` names quotas to remove whole,
    `removeLimits` LimitRange items by type. A new namespace merges into an empty spec.
    """
    resolution = Resolution({})
    base = current if kind != Kind.CREATE_NAMESPACE else {}
    for key, value in raw.items():
        if key == "quotas":
            resolution.spec[key] = _merge_quotas(base.get("quotas") or [], value, resolution.errors)
        elif key == "limitRange":
            resolution.spec[key] = _merge_limit_range(base.get("limitRange") or {}, value, resolution.errors)
        elif key not in (REMOVE_QUOTAS, REMOVE_LIMITS):
            resolution.spec[key] = value
    if REMOVE_QUOTAS in raw:
        quotas = resolution.spec.get("quotas", base.get("quotas") or [])
        resolution.spec["quotas"] = _remove_named(
            quotas, raw[REMOVE_QUOTAS], "name", REMOVE_QUOTAS, "quota", resolution.errors
        )
    if REMOVE_LIMITS in raw:
        limit_range = resolution.spec.get("limitRange", base.get("limitRange") or {})
        if not limit_range:
            resolution.errors.append((REMOVE_LIMITS, "There is no LimitRange to remove limits from."))
        elif isinstance(limit_range, dict):  # anything else is named by the policy
            limits = _remove_named(
                limit_range.get("limits"),
                raw[REMOVE_LIMITS],
                "type",
                REMOVE_LIMITS,
                "LimitRange item",
                resolution.errors,
            )
            if limits == [] and limit_range.get("limits"):
                message = 'This removes every limit; to remove the LimitRange itself, send "limitRange": null.'
                resolution.errors.append((REMOVE_LIMITS, message))
            resolution.spec["limitRange"] = {**limit_range, "limits": limits}
    return resolution


def _merge_quotas(current: list[dict], raw: object, errors: list) -> object:
    if not isinstance(raw, list):
        return raw

    def patch(quota: dict, item: dict, existed: bool) -> None:
        prefix = f"quotas[{quota['name']}]"
        for key, value in item.items():
            if key == "hard":
                quota["hard"] = _merge_map(quota.get("hard") or {}, value, f"{prefix}.hard", errors)
            elif key != "name":
                _merge_key(quota, key, value, f"{prefix}.{key}", errors)

    return _merge_items(current, raw, "name", patch)


def _merge_limit_range(current: dict, raw: object, errors: list) -> object:
    if raw is None:
        if not current:
            errors.append(("limitRange", "There is no LimitRange to remove."))
        return {}
    if not isinstance(raw, dict):
        return raw
    merged = dict(current)
    for key, value in raw.items():
        if key != "limits":
            _merge_key(merged, key, value, f"limitRange.{key}", errors)
        elif not isinstance(value, list):
            merged["limits"] = value
        else:
            merged["limits"] = _merge_limits(merged.get("limits") or [], value, errors)
    return merged


def _merge_limits(current: list[dict], raw: list, errors: list) -> list:
    def patch(target: dict, item: dict, existed: bool) -> None:
        kind = target["type"]
        prefix = f"limitRange.limits[{kind}]"
        for bound, values in item.items():
            if bound == "type":
                continue
            if values is None:
                _merge_key(target, bound, values, f"{prefix}.{bound}", errors)
                continue
            target[bound] = _merge_map(target.get(bound) or {}, values, f"{prefix}.{bound}", errors)
            if target[bound] == {}:
                del target[bound]
        if existed and set(target) == {"type"}:
            errors.append((prefix, f"Removing every bound leaves nothing: name {kind} in {REMOVE_LIMITS} instead."))

    return _merge_items(current, raw, "type", patch)


def _merge_items(current: list[dict], raw: list, key: str, patch) -> list:
    """Items named by `key` (quotas by name, LimitRange items by type): each given item patches its
    namesake, or is added; `patch(target, item, existed)` merges one."""
    merged = [dict(item) for item in current]
    by_key = {item.get(key): item for item in merged}
    patched: set[str] = set()
    for item in raw:
        name = item.get(key) if isinstance(item, dict) else None
        if not isinstance(name, str) or name in patched:
            merged.append(item)  # malformed or a duplicate: the policy names it
            continue
        patched.add(name)
        target = by_key.get(name)
        if target is None:
            target = {key: name}
            merged.append(target)
        patch(target, item, name in by_key)
    return merged


def _merge_map(current: dict, raw: object, prefix: str, errors: list) -> object:
    """Resource names to quantities: a given value is set, a null removes its key."""
    if not isinstance(raw, dict) or not isinstance(current, dict):
        return raw
    merged = dict(current)
    for key, value in raw.items():
        _merge_key(merged, key, value, f"{prefix}[{key}]", errors)
    return merged


def _merge_key(target: dict, key: str, value: object, field_name: str, errors: list) -> None:
    if value is not None:
        target[key] = value
    elif key in target:
        del target[key]
    else:
        errors.append((field_name, "There is nothing here to remove."))


def _remove_named(items: object, names: object, key: str, field_name: str, what: str, errors: list) -> object:
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        errors.append((field_name, f"Must be a list of {key}s."))
        return items
    if not isinstance(items, list):
        return items
    present = [item.get(key) for item in items if isinstance(item, dict)]
    for name in names:
        if name not in present:
            errors.append((field_name, f"There is no {what} {name!r} to remove."))
    return [item for item in items if not (isinstance(item, dict) and item.get(key) in names)]


def spec_changes(current: dict, proposed: dict) -> list[dict]:
    """What approving `proposed` changes in `current`, one row per key, in the sections it holds.

    Rows come in a stable order (quota keys as the pages list them, other keys by name),
    whatever order the database keeps a JSON object's keys in. Each row: `field` (named as
    the policy names it), `object` and `key` (for tables), `current` and `proposed` (null
    where absent), and `change`: added, changed or removed.
    """
    rows: list[dict] = []
    if "tier" in proposed:
        _compare(rows, "tier", "namespace", "tier", current.get("tier"), proposed["tier"])
    if "labels" in proposed:
        before, after = current.get("labels") or {}, proposed["labels"] or {}
        for key in _union(before, after, sort=True):
            _compare(rows, f"labels[{key}]", "namespace", f"label {key}", before.get(key), after.get(key))
    if "quotas" in proposed:
        before = {quota["name"]: quota for quota in current.get("quotas") or []}
        after = {quota["name"]: quota for quota in proposed["quotas"] or []}
        for name in _union(before, after):
            old, new = before.get(name) or {}, after.get(name) or {}
            old_hard, new_hard = old.get("hard") or {}, new.get("hard") or {}
            for key in _union(old_hard, new_hard, order=QUOTA_KEY_ORDER):
                _compare(rows, f"quotas[{name}].hard[{key}]", name, key, old_hard.get(key), new_hard.get(key))
            _compare(
                rows,
                f"quotas[{name}].scopeSelector",
                name,
                "scopeSelector",
                _text(old.get("scopeSelector")),
                _text(new.get("scopeSelector")),
            )
    if "limitRange" in proposed:
        old, new = current.get("limitRange") or {}, proposed["limitRange"] or {}
        _compare(rows, "limitRange.name", "LimitRange", "name", old.get("name"), new.get("name"))
        before = {item["type"]: item for item in old.get("limits") or []}
        after = {item["type"]: item for item in new.get("limits") or []}
        for kind in _union(before, after):
            old_item, new_item = before.get(kind) or {}, after.get(kind) or {}
            for bound in _union(old_item, new_item, sort=True):
                if bound == "type":
                    continue
                old_values, new_values = old_item.get(bound) or {}, new_item.get(bound) or {}
                for resource in _union(old_values, new_values, sort=True):
                    _compare(
                        rows,
                        f"limitRange.limits[{kind}].{bound}[{resource}]",
                        f"LimitRange {kind}",
                        f"{bound} {resource}",
                        old_values.get(resource),
                        new_values.get(resource),
                    )
    return rows


#: The amounts an approver may grant in part, by the field name the changes rows carry.
_QUOTA_AMOUNT = re.compile(r"quotas\[(?P<name>[^\]]+)\]\.hard\[(?P<key>[^\]]+)\]")
_LIMIT_AMOUNT = re.compile(r"limitRange\.limits\[(?P<type>[^\]]+)\]\.(?P<bound>\w+)\[(?P<resource>[^\]]+)\]")


def grantable(changes: list[dict]) -> list[dict]:
    """The rows of `changes` an approver may grant in part: amounts added or changed."""
    return [
        row
        for row in changes
        if row["change"] != Change.REMOVED
        and (_QUOTA_AMOUNT.fullmatch(row["field"]) or _LIMIT_AMOUNT.fullmatch(row["field"]))
    ]


def grant(proposed: dict, changes: list[dict], amounts: dict[str, str]) -> Resolution:
    """The request's stored sections with some amounts granted in part, e.g. 12 GPUs of the 16 asked.

    `amounts` maps a row of `changes` (its `field`) to the amount granted, which lies between the
    current amount (0 for a key the request adds) and the amount asked: an approver grants part of a
    change, never more than was asked nor a change nobody asked for. An empty spec means the grant
    is the ask.
    """
    rows = {row["field"]: row for row in grantable(changes)}
    granted = copy.deepcopy(proposed)
    resolution = Resolution({})
    for field_name, text in amounts.items():
        row = rows.get(field_name)
        if row is None:
            resolution.errors.append((field_name, "Only an amount this request changes can be granted in part."))
            continue
        try:
            amount = parse_quantity(text)
            asked, current = parse_quantity(row["proposed"]), parse_quantity(row["current"] or "0")
        except QuantityError as error:
            resolution.errors.append((field_name, str(error)))
            continue
        low, high = min(asked, current), max(asked, current)
        if amount < low or high < amount:
            resolution.errors.append(
                (field_name, f"Grant between {low} and {high}: the current amount, what was asked, or in between.")
            )
            continue
        if amount == asked:
            continue
        if quota := _QUOTA_AMOUNT.fullmatch(field_name):
            target = next(q for q in granted["quotas"] if q["name"] == quota["name"])["hard"]
            target[quota["key"]] = amount.canonical()
        else:
            limit = _LIMIT_AMOUNT.fullmatch(field_name)
            item = next(i for i in granted["limitRange"]["limits"] if i["type"] == limit["type"])
            item[limit["bound"]][limit["resource"]] = amount.canonical()
    if not resolution.errors and granted != proposed:
        resolution.spec = granted
    return resolution


def since_first(first: list[dict], now: list[dict]) -> list[dict]:
    """What a resubmitted request asks differently from its first version, one row per key.

    Each row: `field`, `object`, `key`, `first` and `now` (what each version asked; null where
    that version left the key alone or removed it).
    """

    def asked(rows: list[dict]) -> dict[str, dict]:
        return {row["field"]: row for row in rows}

    before, after = asked(first), asked(now)
    out = []
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if _asked(old) != _asked(new):
            shown = new or old
            out.append(
                {
                    "field": name,
                    "object": shown["object"],
                    "key": shown["key"],
                    "first": _asked(old),
                    "now": _asked(new),
                }
            )
    return out


def _asked(row: dict | None) -> str | None:
    if row is None:
        return None
    return "removed" if row["change"] == Change.REMOVED else row["proposed"]


def _compare(rows: list[dict], field_name: str, obj: str, key: str, old: object, new: object) -> None:
    if old == new:
        return
    change = Change.ADDED if old is None else Change.REMOVED if new is None else Change.CHANGED
    rows.append({"field": field_name, "object": obj, "key": key, "current": old, "proposed": new, "change": change})


def _union(first: dict, second: dict, *, sort: bool = False, order: dict[str, int] | None = None) -> list:
    """The keys of both, in order: as listed, by name, or by `order` and then by name."""
    keys = list(dict.fromkeys([*first, *second]))
    if order is not None:
        return sorted(keys, key=lambda key: (order.get(key, len(order)), key))
    return sorted(keys) if sort else keys


def _text(value: object) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def scoped_priority_classes(quota: dict) -> tuple[str, set[str]] | None:
    """(operator, class names) of a quota's PriorityClass scope, or None when it has none."""
    for expression in (quota.get("scopeSelector") or {}).get("matchExpressions") or []:
        if isinstance(expression, dict) and expression.get("scopeName") == "PriorityClass":
            return expression.get("operator", ""), set(expression.get("values") or [])
    return None
