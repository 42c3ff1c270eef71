"""Used against hard for each quota key, as `kubectl describe resourcequota` shows it.

The one source of usage rows: the pages and the API (`GET /api/v1/namespaces/{id}/`) show the same.
"""

from dataclasses import dataclass

from django.conf import settings

from teams.constants import GUARANTEED_GPU_KEY, QUOTA_KEY_ORDER
from teams.models import TeamNamespace
from teams.quantities import QuantityError, parse_quantity


@dataclass(frozen=True)
class UsageRow:
    quota: str
    resource: str
    used: str | None
    hard: str
    percent: int | None

    @property
    def level(self) -> str:
        """A bar turns amber at the lowest warning threshold and red at the highest (the portal's defaults)."""
        if self.percent is None:
            return "unknown"
        thresholds = settings.QUOTA_WARNING_THRESHOLDS
        if self.percent >= thresholds[-1]:
            return "critical"
        return "warning" if self.percent >= thresholds[0] else "ok"


def usage_rows(namespace: TeamNamespace) -> list[UsageRow]:
    """From what the cluster reported; before the first sync, the desired hard with usage unknown (None).

    Quotas in desired order (others after, by name), keys as QUOTA_KEYS lists them and then by
    name: the same order before and after a sync, on every database.
    """
    observed = namespace.observed_quotas or {}
    desired = {quota["name"]: {"hard": quota["hard"], "used": None} for quota in namespace.quotas}
    quotas = observed or desired
    position = {name: index for index, name in enumerate(desired)}
    rows = []
    for quota_name in sorted(quotas, key=lambda name: (position.get(name, len(position)), name)):
        values = quotas[quota_name]
        used_values = values.get("used")
        hard_values = values.get("hard") or {}
        for resource in sorted(hard_values, key=lambda key: (QUOTA_KEY_ORDER.get(key, len(QUOTA_KEY_ORDER)), key)):
            used = None if used_values is None else used_values.get(resource, "0")
            hard = hard_values[resource]
            rows.append(UsageRow(quota_name, resource, used, hard, _percent(used, hard)))
    return rows


@dataclass(frozen=True)
class GpuUsage:
    """A namespace's GPUs as the cluster reports them, over all its quotas' requests.nvidia.com/gpu."""

    #: None until the quota controller has reported usage for every quota holding the key.
    used: int | None
    #: None when no quota of the namespace holds the key.
    hard: int | None


def gpu_usage(observed_quotas: dict) -> GpuUsage:
    """The one reading of a namespace's GPU used and hard: the cluster page and /metrics show it."""
    used: int | None = 0
    hard: int | None = None
    for values in (observed_quotas or {}).values():
        quota_hard = (values.get("hard") or {}).get(GUARANTEED_GPU_KEY)
        if quota_hard is None:
            continue
        hard = (hard or 0) + parse_quantity(quota_hard).as_int_ceiling()
        if values.get("used") is None:
            used = None
        elif used is not None:
            used += parse_quantity(values["used"].get(GUARANTEED_GPU_KEY) or "0").as_int_ceiling()
    return GpuUsage(used=used if hard is not None else None, hard=hard)


def _percent(used: str | None, hard: str) -> int | None:
    if used is None:
        return None
    try:
        limit = parse_quantity(hard).value
        amount = parse_quantity(used).value
    except QuantityError:
        return None
    if limit == 0:
        return 100 if amount > 0 else 0
    return min(100, int(amount * 100 / limit))
