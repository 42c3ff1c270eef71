"""Kubernetes objects of a namespace's desired state, shown the way `kubectl describe` prints them."""

from dataclasses import dataclass

#: The LimitRange fields in `kubectl describe limitrange`'s column order, with its headings.
LIMIT_COLUMNS = (
    ("min", "Min"),
    ("max", "Max"),
    ("defaultRequest", "Default Request"),
    ("default", "Default Limit"),
    ("maxLimitRequestRatio", "Max Limit/Request Ratio"),
)
#: What kubectl prints for a value a LimitRange item does not set.
UNSET = "-"


@dataclass(frozen=True)
class LimitRangeRow:
    type: str
    resource: str
    values: tuple[str, ...]


def limit_range_rows(limit_range: dict) -> list[LimitRangeRow]:
    """One row per type and resource, resources in name order, as `kubectl describe limitrange` lists them."""
    rows = []
    for item in limit_range.get("limits") or []:
        resources = sorted({resource for field, _ in LIMIT_COLUMNS for resource in item.get(field) or {}})
        for resource in resources:
            values = tuple(str((item.get(field) or {}).get(resource, UNSET)) for field, _ in LIMIT_COLUMNS)
            rows.append(LimitRangeRow(item.get("type", ""), resource, values))
    return rows
