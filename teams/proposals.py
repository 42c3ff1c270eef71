"""Downsize proposals: what the portal proposes for a namespace whose guaranteed GPUs sat mostly idle.

Chargeback measures the idle GPUs from its rollups and hands plain numbers here (teams
never imports chargeback); this module decides whether to propose, what quota to propose,
and words the evidence, and the workflow stores the proposal as a request of the system.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from teams import workflow
from teams.catalog import TierCatalog
from teams.constants import GPU_RESOURCE, GUARANTEED_GPU_KEY
from teams.models import DownsizeProposal, Request, TeamNamespace
from teams.quantities import parse_quantity


@dataclass(frozen=True)
class IdleEvidence:
    """A namespace's GPUs over the window, as chargeback measured them from its hourly rollups."""

    window_start: datetime
    window_end: datetime
    peak_used_gpus: Decimal
    idle_gpu_hours: Decimal
    idle_cost: Decimal


def is_mostly_idle(guaranteed: int, peak_used: Decimal) -> bool:
    """Peak use below DOWNSIZE_IDLE_PERCENT of the guaranteed GPUs."""
    return guaranteed > 0 and peak_used * 100 < Decimal(settings.DOWNSIZE_IDLE_PERCENT) * guaranteed


def proposed_gpus(peak_used: Decimal) -> int:
    """Enough guaranteed GPUs for the observed peak plus DOWNSIZE_MARGIN_PERCENT, in whole GPUs."""
    return math.ceil(peak_used * (100 + settings.DOWNSIZE_MARGIN_PERCENT) / 100)


def is_quiet(namespace: TeamNamespace, now: datetime) -> bool:
    """A proposal is open for the namespace, or its team declined one within DOWNSIZE_QUIET_DAYS."""
    recent_decline = Q(declined_at__gte=now - timedelta(days=settings.DOWNSIZE_QUIET_DAYS))
    return (
        DownsizeProposal.objects.filter(namespace=namespace)
        .filter(recent_decline | Q(request__state__in=Request.OPEN_STATES))
        .exists()
    )


def downsized_spec(namespace: TeamNamespace, gpus: int, catalog: TierCatalog) -> dict:
    """The sections a downsize changes: the quotas with their guaranteed GPUs cut to `gpus` in all (taken from
    the last quota first), and the LimitRange's container GPU max lowered to the largest quota if it was above."""
    quotas = [{**quota, "hard": dict(quota.get("hard") or {})} for quota in namespace.quotas]
    excess = namespace.guaranteed_gpus - gpus
    for quota in reversed(quotas):
        if excess <= 0:
            break
        if GUARANTEED_GPU_KEY not in quota["hard"] or not catalog.is_guaranteed(quota, namespace.tier):
            continue
        held = parse_quantity(quota["hard"][GUARANTEED_GPU_KEY]).as_int_ceiling()
        cut = min(held, excess)
        quota["hard"][GUARANTEED_GPU_KEY] = str(held - cut)
        excess -= cut
    spec: dict = {"quotas": quotas}
    largest = catalog.gpu_allocation(quotas, namespace.tier).largest_quota
    limits = [dict(item) for item in (namespace.limit_range or {}).get("limits") or []]
    for item in limits:
        maximum = (item.get("max") or {}).get(GPU_RESOURCE) if item.get("type") == "Container" else None
        if maximum is not None and parse_quantity(maximum).as_int_ceiling() > largest:
            item["max"] = {**item["max"], GPU_RESOURCE: str(largest)}
            spec["limitRange"] = {**namespace.limit_range, "limits": limits}
    return spec


def justification(namespace: TeamNamespace, evidence: IdleEvidence, gpus: int) -> str:
    days = (evidence.window_end - evidence.window_start).days
    return (
        f"Over the last {days} days the {namespace.guaranteed_gpus} guaranteed GPUs of {namespace.name} peaked at "
        f"{evidence.peak_used_gpus.normalize():f} GPUs used (hourly mean): {evidence.idle_gpu_hours:,.1f} reserved "
        f"GPU-hours sat idle, costing {evidence.idle_cost:,.2f} {settings.CHARGEBACK_CURRENCY} at the "
        f"{namespace.tier.name} tier's rate. Proposed: {gpus} guaranteed GPUs, the peak plus "
        f"{settings.DOWNSIZE_MARGIN_PERCENT}%. Accept to free {namespace.guaranteed_gpus - gpus} GPUs, or decline "
        "saying why the team keeps them."
    )


def propose(namespace: TeamNamespace, evidence: IdleEvidence, *, now: datetime) -> Request | None:
    """Propose a downsize if the namespace was mostly idle, may be proposed to, and would free a GPU."""
    if not namespace.tier.proposes_downsizes or is_quiet(namespace, now):
        return None
    if not is_mostly_idle(namespace.guaranteed_gpus, evidence.peak_used_gpus):
        return None
    gpus = proposed_gpus(evidence.peak_used_gpus)
    if gpus >= namespace.guaranteed_gpus:
        return None
    return workflow.propose_downsize(
        namespace,
        proposed=downsized_spec(namespace, gpus, TierCatalog.load()),
        evidence={
            "window_start": evidence.window_start,
            "window_end": evidence.window_end,
            "guaranteed_gpus": namespace.guaranteed_gpus,
            "peak_used_gpus": evidence.peak_used_gpus,
            "proposed_gpus": gpus,
            "idle_gpu_hours": evidence.idle_gpu_hours,
            "idle_cost": evidence.idle_cost,
        },
        justification=justification(namespace, evidence, gpus),
    )
