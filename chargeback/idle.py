"""Idle reserved GPUs, from the hourly rollups: the evidence behind downsize proposals and auto-approval.

Reserved GPUs idle in an hour are the guaranteed GPU-time not used by pods in guaranteed
quotas: `gpu_reserved - (gpu_used - gpu_burst)`. The same expression feeds the chargeback
report's "idle reserved GPU-hours", so the report and the proposals agree.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, F, Max, Sum, When
from django.db.models.functions import Greatest

from chargeback.models import HourlyUsage, RollupState
from chargeback.rollups import floor_hour, watermark
from teams.catalog import PriceList
from teams.models import Rate, Resource, TeamNamespace
from teams.proposals import IdleEvidence, propose

logger = logging.getLogger(__name__)

#: milli-GPU-seconds in one GPU-hour.
GPU_HOUR = 3_600_000
#: Share of the window's hours that must be rolled up for a namespace before it is judged idle.
COVERAGE_PERCENT = 90

#: Idle reserved milli-GPU-seconds of a usage row, never below 0.
IDLE_RESERVED = Greatest(F("gpu_reserved") - (F("gpu_used") - F("gpu_burst")), 0)


def team_gpu_usage(team_id: int, since: datetime, until: datetime) -> tuple[int, int] | None:
    """The team's GPU used and GPU hard over whole rolled-up hours in [since, until).

    Hard is a namespace's guaranteed GPUs, or its GPU limit where it has none (a preemptible
    tier): the seed's declared `limits.nvidia.com/gpu` is not enforced, so against it even a
    namespace using every GPU it may hold would look mostly idle.
    """
    totals = HourlyUsage.objects.filter(team_id=team_id, hour__gte=since, hour__lt=until).aggregate(
        used=Sum("gpu_used"),
        hard=Sum(Case(When(gpu_reserved__gt=0, then=F("gpu_reserved")), default=F("gpu_limit"))),
    )
    if not totals["hard"]:
        return None
    return totals["used"] or 0, totals["hard"]


def idle_evidence(now: datetime) -> list[tuple[TeamNamespace, IdleEvidence]]:
    """Every live namespace with guaranteed GPUs and its GPUs over the last DOWNSIZE_WINDOW_DAYS rolled-up days."""
    complete = watermark(RollupState.HOURLY)
    if complete is None:
        return []
    end = min(floor_hour(now), complete)
    start = end - timedelta(days=settings.DOWNSIZE_WINDOW_DAYS)
    hours = int((end - start) / timedelta(hours=1))
    namespaces = {
        namespace.pk: namespace
        # Across clusters, deliberately: each namespace is judged by its own rollups, wherever it is.
        for namespace in TeamNamespace.objects.live()
        .filter(guaranteed_gpus__gt=0, tier__proposes_downsizes=True)
        .select_related("tier", "team")
    }
    days = (
        HourlyUsage.objects.filter(namespace_id__in=namespaces, hour__gte=start, hour__lt=end, gpu_reserved__gt=0)
        .values("namespace_id", "tier_id", "day")
        .annotate(hours=Count("pk"), peak=Max("gpu_used"), idle=Sum(IDLE_RESERVED))
        .order_by()
    )
    prices = PriceList()
    found: dict[int, dict] = {}
    for row in days:  # a day's idle hours at that day's reserved rate of their tier on the namespace's cluster
        totals = found.setdefault(row["namespace_id"], {"hours": 0, "peak": 0, "idle": 0, "cost": Decimal(0)})
        cluster_id = namespaces[row["namespace_id"]].cluster_id
        price = prices.price(row["tier_id"], Resource.GPU, Rate.Kind.RESERVED, row["day"], cluster_id=cluster_id)
        totals["hours"] += row["hours"]
        totals["peak"] = max(totals["peak"], row["peak"])
        totals["idle"] += row["idle"]
        totals["cost"] += Decimal(row["idle"]) / GPU_HOUR * price
    evidence = []
    for namespace_id, totals in found.items():
        if totals["hours"] * 100 < hours * COVERAGE_PERCENT:
            continue  # too little of the window is known to call the GPUs idle
        evidence.append(
            (
                namespaces[namespace_id],
                IdleEvidence(
                    window_start=start,
                    window_end=end,
                    peak_used_gpus=(Decimal(totals["peak"]) / GPU_HOUR).quantize(Decimal("0.001")),
                    idle_gpu_hours=(Decimal(totals["idle"]) / GPU_HOUR).quantize(Decimal("0.001")),
                    idle_cost=totals["cost"].quantize(Decimal("0.01")),
                ),
            )
        )
    return evidence


def propose_downsizes(now: datetime) -> list[int]:
    """Propose a downsize for every mostly idle namespace that may be proposed to; return the requests' ids."""
    proposed = []
    for namespace, evidence in idle_evidence(now):
        request = propose(namespace, evidence, now=now)
        if request is not None:
            proposed.append(request.pk)
    logger.info("chargeback.downsizes_proposed", extra={"requests": proposed})
    return proposed
