"""Prices by tier, resource and date, and how a tier's own price fields become rates.

GpuTier carries today's GPU prices (reserved_gpu_hour_rate, used_gpu_hour_rate); the
Rate table is their history. A tier's prices seed its first rates (in effect since
always); changing them on the tier adds rates from the next UTC midnight. Rates for any
other day, and for CPU and memory (0 until a rate exists), are added in the admin.
"""

import logging
from bisect import bisect_right
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from chargeback.models import SINCE_ALWAYS, Rate, Resource
from teams.models import GpuTier

logger = logging.getLogger(__name__)

Kind = Rate.Kind
#: The tier field each GPU rate is seeded from.
TIER_FIELDS = {Kind.RESERVED: "reserved_gpu_hour_rate", Kind.BURST: "used_gpu_hour_rate"}


def seed_tier_rates(tier: GpuTier, *, previous: dict[str, Decimal] | None = None) -> list[Rate]:
    """Make the Rate table follow the tier's GPU price fields; return the rates written."""
    written = []
    for kind, field_name in TIER_FIELDS.items():
        price = getattr(tier, field_name)
        existing = Rate.objects.filter(tier=tier, resource=Resource.GPU, kind=kind)
        if not existing.exists():
            written.append(
                Rate.objects.create(
                    tier=tier,
                    resource=Resource.GPU,
                    kind=kind,
                    effective_from=SINCE_ALWAYS,
                    price=price,
                    note=f"Seeded from the tier's {field_name}.",
                )
            )
        elif previous is not None and previous.get(field_name) != price:
            tomorrow = timezone.now().date() + timedelta(days=1)
            rate, _ = Rate.objects.update_or_create(
                tier=tier,
                resource=Resource.GPU,
                kind=kind,
                effective_from=tomorrow,
                defaults={"price": price, "note": f"The tier's {field_name} changed."},
            )
            written.append(rate)
    for rate in written:
        logger.info("rate.written", extra={"tier": tier.slug, "kind": rate.kind, "price": str(rate.price)})
    return written


class RateTable:
    """Every rate, read in one query (a few rows per tier); `price()` answers for any day."""

    def __init__(self) -> None:
        self._days: dict[tuple, list[date]] = defaultdict(list)
        self._prices: dict[tuple, list[Decimal]] = defaultdict(list)
        rates = Rate.objects.order_by("effective_from")
        for rate in rates:
            key = (rate.tier_id, rate.resource, rate.kind)
            self._days[key].append(rate.effective_from)
            self._prices[key].append(rate.price)

    def price(self, tier_id: int, resource: str, kind: str, day: date) -> Decimal:
        """The price in effect on `day`; 0 before the first rate."""
        key = (tier_id, resource, kind)
        position = bisect_right(self._days.get(key, []), day)
        return self._prices[key][position - 1] if position else Decimal(0)

    def change_days(self, start: date, end: date) -> list[date]:
        """Days in (start, end) on which some price changes: a report splits its periods there."""
        return sorted({day for days in self._days.values() for day in days if start < day < end})
