"""The chargeback as FOCUS 1.0 (FinOps Open Cost and Usage Specification) rows, streamed day by day.

One row per namespace, tier, day and priced quantity (GPU, CPU or memory; reserved or
burst), its ResourceId and Tags naming the namespace's cluster, so that FinOps tools can
ingest the portal's GPU costs beside a cloud bill. The money is the report's
(chargeback.reports, grouped by namespace, one row per day): each FOCUS row's BilledCost
is one of that row's rounded cost columns, so the export and the CSV add up to the same
cent. Corrections of closed months (adjustment lines) are rows with ChargeClass
"Correction", charged in the month they correct and billed in the month they were
booked. The portal bills no discounts: list, contracted, effective and billed cost are
the same amount.

Nothing holds more than a day of rows: a year for 10,000 namespaces is written as it is
read.
"""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from chargeback.reports import ADJUSTMENT_LINE, ReportQuery, build_report
from chargeback.rollups import floor_day, next_month
from teams.catalog import PriceList
from teams.models import Cluster, CostCenter, GpuTier, Rate, TeamNamespace

VERSION = "1.0"
PROVIDER = "GPU Quota Portal"
#: The FOCUS columns written, in this order: every column FOCUS 1.0 defines for a cost and usage dataset.
COLUMNS = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
#: (resource, rate kind, the report's quantity column, its cost column, FOCUS unit, what it is)
CHARGES = [
    ("gpu", Rate.Kind.RESERVED, "gpu_reserved_hours", "cost_gpu_reserved", "GPU-Hours", "Guaranteed GPUs reserved"),
    ("gpu", Rate.Kind.BURST, "gpu_burst_hours", "cost_gpu_burst", "GPU-Hours", "GPUs used beyond the guarantee"),
    ("cpu", Rate.Kind.RESERVED, "cpu_reserved_core_hours", "cost_cpu_reserved", "Core-Hours", "CPU cores reserved"),
    ("cpu", Rate.Kind.BURST, "cpu_burst_core_hours", "cost_cpu_burst", "Core-Hours", "CPU cores used in burst"),
    ("memory", Rate.Kind.RESERVED, "memory_reserved_gib_hours", "cost_memory_reserved", "GiB-Hours", "Memory reserved"),
    ("memory", Rate.Kind.BURST, "memory_burst_gib_hours", "cost_memory_burst", "GiB-Hours", "Memory used in burst"),
]


def focus_rows(
    start: datetime, end: datetime, *, viewer, cost_center: str | None = None, cluster: str | None = None
) -> Iterator[dict]:
    """FOCUS rows of [start, end) that `viewer` may see, one day's report at a time."""
    context = _Context()
    day = start
    while day < end:
        until = min(floor_day(day) + timedelta(days=1), end)
        query = ReportQuery(
            start=day,
            end=until,
            group_by="namespace",
            step="day",
            cost_center=cost_center,
            cluster=cluster,
            split_tiers=True,
        )
        for row in build_report(query, viewer=viewer)["rows"]:
            yield from context.charges(row)
        day = until


class _Context:
    """What every row needs and no report row carries: names, cluster ids, unit prices; read once per export."""

    def __init__(self) -> None:
        self.prices = PriceList()
        self.tiers = dict(GpuTier.objects.values_list("slug", "pk"))
        self.centers = dict(CostCenter.objects.values_list("code", "name"))
        # A namespace's name is unique on its cluster only: the report's row names both.
        self.namespaces = {
            (cluster, name): (slug, team)
            for cluster, name, slug, team in TeamNamespace.objects.values_list(
                "cluster__name", "name", "team__slug", "team__name"
            )
        }
        self.clusters = dict(Cluster.objects.values_list("name", "pk"))
        self.currency = settings.CHARGEBACK_CURRENCY

    def charges(self, row: dict) -> Iterator[dict]:
        namespace, tier, cluster = row["group"], row["tier"], row["cluster"]
        team_slug, team_name = self.namespaces.get((cluster, namespace), ("", ""))
        is_correction = row["line"] == ADJUSTMENT_LINE
        period_start = datetime.fromisoformat(row["period_start"])
        if is_correction:
            charged = datetime.fromisoformat(f"{row['adjusts']}-01T00:00:00+00:00")
            charge_period = (charged, next_month(charged))
            billing_period = (period_start.replace(day=1), next_month(period_start))
        else:
            charge_period = (period_start, datetime.fromisoformat(row["period_end"]))
            billing_period = (period_start.replace(day=1), next_month(period_start))
        common = {
            "AvailabilityZone": None,
            "BillingAccountId": row["cost_center"],
            "BillingAccountName": self.centers.get(row["cost_center"]),
            "BillingCurrency": self.currency,
            "BillingPeriodEnd": _moment(billing_period[1]),
            "BillingPeriodStart": _moment(billing_period[0]),
            "ChargeCategory": "Usage",
            "ChargeClass": "Correction" if is_correction else None,
            "ChargeFrequency": "Usage-Based",
            "ChargePeriodEnd": _moment(charge_period[1]),
            "ChargePeriodStart": _moment(charge_period[0]),
            "CommitmentDiscountCategory": None,
            "CommitmentDiscountId": None,
            "CommitmentDiscountName": None,
            "CommitmentDiscountStatus": None,
            "CommitmentDiscountType": None,
            "InvoiceIssuerName": PROVIDER,
            "PricingCategory": "Standard",
            "ProviderName": PROVIDER,
            "PublisherName": PROVIDER,
            "RegionId": None,
            "RegionName": None,
            "ResourceId": f"{cluster}/{namespace}",
            "ResourceName": namespace,
            "ResourceType": "Kubernetes Namespace",
            "ServiceCategory": "Compute",
            "ServiceName": "GPU quota",
            "SubAccountId": team_slug or None,
            "SubAccountName": team_name or None,
            "Tags": json.dumps(
                {"team": team_slug, "cost-center": row["cost_center"], "gpu-tier": tier, "cluster": cluster},
                sort_keys=True,
            ),
        }
        for resource, kind, quantity_column, cost_column, unit, what in CHARGES:
            quantity, cost = row[quantity_column], row[cost_column]
            if not Decimal(quantity) and not Decimal(cost):
                continue
            unit_price, price_id = self._price(tier, cluster, resource, kind, charge_period)
            sku = f"{tier}/{resource}/{kind}"
            yield {
                **common,
                "BilledCost": cost,
                "ChargeDescription": f"{what} in namespace {namespace} ({tier} tier)",
                "ConsumedQuantity": quantity,
                "ConsumedUnit": unit,
                "ContractedCost": cost,
                "ContractedUnitPrice": unit_price,
                "EffectiveCost": cost,
                "ListCost": cost,
                "ListUnitPrice": unit_price,
                "PricingQuantity": quantity,
                "PricingUnit": unit,
                "SkuId": sku,
                "SkuPriceId": f"{sku}@{price_id}" if price_id else None,
            }

    def _price(self, tier: str, cluster: str, resource: str, kind: str, period: tuple[datetime, datetime]) -> tuple:
        """(unit price, which rate: its day, after the cluster's name if it is the cluster's own) over the period.

        (None, None) if a price changed inside the period.
        """
        first, last = period[0].date(), period[1].date()
        if self.prices.change_days(first, last):
            return None, None
        tier_id, cluster_id = self.tiers.get(tier), self.clusters.get(cluster)
        price = self.prices.price(tier_id, resource, kind, first, cluster_id=cluster_id)
        rate = self.prices.effective_from(tier_id, resource, kind, first, cluster_id=cluster_id)
        if rate is None:
            return f"{price.normalize():f}", None
        since, is_the_clusters = rate
        return f"{price.normalize():f}", f"{cluster}/{since}" if is_the_clusters else f"{since}"


def _moment(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
