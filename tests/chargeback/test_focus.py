"""The FOCUS export: FOCUS 1.0's column rules on every row, and the same money as the chargeback CSV."""

import csv
import io
import json
import re
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from chargeback.periods import close_period
from chargeback.rollups import roll_up
from provisioning.models import Cluster, UsageSample
from tests.chargeback.conftest import GPU, at

URL = "/api/v1/chargeback/focus/"
CSV_URL = "/api/v1/chargeback/"

# FOCUS 1.0, "Column definitions": each column a cost and usage dataset carries, its data type, and whether
# it may be null. Written from the specification, not from the exporter: the exporter is checked against it.
SPEC = {
    "AvailabilityZone": ("String", True),
    "BilledCost": ("Decimal", False),
    "BillingAccountId": ("String", False),
    "BillingAccountName": ("String", True),
    "BillingCurrency": ("Currency", False),
    "BillingPeriodEnd": ("DateTime", False),
    "BillingPeriodStart": ("DateTime", False),
    "ChargeCategory": ("String", False),
    "ChargeClass": ("String", True),
    "ChargeDescription": ("String", True),
    "ChargeFrequency": ("String", False),
    "ChargePeriodEnd": ("DateTime", False),
    "ChargePeriodStart": ("DateTime", False),
    "CommitmentDiscountCategory": ("String", True),
    "CommitmentDiscountId": ("String", True),
    "CommitmentDiscountName": ("String", True),
    "CommitmentDiscountStatus": ("String", True),
    "CommitmentDiscountType": ("String", True),
    "ConsumedQuantity": ("Decimal", True),
    "ConsumedUnit": ("String", True),
    "ContractedCost": ("Decimal", False),
    "ContractedUnitPrice": ("Decimal", True),
    "EffectiveCost": ("Decimal", False),
    "InvoiceIssuerName": ("String", False),
    "ListCost": ("Decimal", False),
    "ListUnitPrice": ("Decimal", True),
    "PricingCategory": ("String", True),
    "PricingQuantity": ("Decimal", True),
    "PricingUnit": ("String", True),
    "ProviderName": ("String", False),
    "PublisherName": ("String", False),
    "RegionId": ("String", True),
    "RegionName": ("String", True),
    "ResourceId": ("String", True),
    "ResourceName": ("String", True),
    "ResourceType": ("String", True),
    "ServiceCategory": ("String", False),
    "ServiceName": ("String", False),
    "SkuId": ("String", True),
    "SkuPriceId": ("String", True),
    "SubAccountId": ("String", True),
    "SubAccountName": ("String", True),
    "Tags": ("KeyValueFormat", True),
}
ALLOWED = {
    "ChargeCategory": {"Adjustment", "Credit", "Purchase", "Tax", "Usage"},
    "ChargeClass": {"Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {"Standard", "Dynamic", "Committed", "Other"},
    "ServiceCategory": {
        "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases", "Developer Tools",
        "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media",
        "Migration", "Mobile", "Networking", "Security", "Storage", "Web", "Other",
    },
}  # fmt: skip
FORMATS = {
    "Decimal": re.compile(r"-?\d+(\.\d+)?"),
    "DateTime": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),  # ISO 8601 in UTC, "Z"
    "Currency": re.compile(r"[A-Z]{3}"),  # ISO 4217
}


def check_focus_row(row: dict[str, str]) -> None:
    for column, (kind, nullable) in SPEC.items():
        value = row[column]
        if value == "":
            assert nullable, f"{column} must not be null"
            continue
        if kind in FORMATS:
            assert FORMATS[kind].fullmatch(value), f"{column}: {value!r} is not a {kind}"
        if kind == "KeyValueFormat":
            tags = json.loads(value)
            assert isinstance(tags, dict)
            assert all(isinstance(tag, str) for tag in [*tags, *tags.values()])
        if column in ALLOWED:
            assert value in ALLOWED[column], f"{column}: {value!r} is not an allowed value"
    assert row["ChargePeriodStart"] < row["ChargePeriodEnd"]
    assert row["BillingPeriodStart"] < row["BillingPeriodEnd"]
    assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"]  # no discounts
    if row["ChargeClass"] == "Correction":  # a correction charges an earlier period than the one it is billed in
        assert row["ChargePeriodEnd"] <= row["BillingPeriodStart"]
    else:
        assert row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["BillingPeriodEnd"]
    if row["PricingQuantity"] and row["ListUnitPrice"]:
        assert Decimal(row["PricingQuantity"]) * Decimal(row["ListUnitPrice"]) == pytest.approx(
            Decimal(row["ListCost"]), abs=Decimal("0.005")
        )


def read(response) -> list[dict[str, str]]:
    assert response.streaming
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def finance(october) -> APIClient:
    client = APIClient()
    client.force_login(october.finance)
    return client


def test_october_in_focus_keeps_every_column_rule_and_bills_what_the_csv_bills(finance):
    focus = read(finance.get(URL, {"start": "2026-10-01", "end": "2026-11-01"}))
    by_namespace_and_day = {"group_by": "namespace", "step": "day", "format": "csv"}
    exported = finance.get(CSV_URL, {"start": "2026-10-01", "end": "2026-11-01", **by_namespace_and_day})
    csv_rows = list(csv.DictReader(io.StringIO(exported.content.decode())))

    assert list(focus[0]) == sorted(SPEC)
    for row in focus:
        check_focus_row(row)
    assert sum(Decimal(row["BilledCost"]) for row in focus) == sum(Decimal(row["cost_total"]) for row in csv_rows)
    assert sum(Decimal(row["BilledCost"]) for row in focus) == Decimal("24456.00")  # the report's October total
    research_gpu = [row for row in focus if row["ResourceName"] == "ml-research" and row["PricingUnit"] == "GPU-Hours"]
    assert sum(Decimal(row["PricingQuantity"]) for row in research_gpu) == Decimal(7920)
    first = research_gpu[0]
    assert (first["ChargePeriodStart"], first["ChargePeriodEnd"], first["BillingPeriodStart"]) == (
        "2026-10-01T00:00:00Z",
        "2026-10-02T00:00:00Z",
        "2026-10-01T00:00:00Z",
    )
    assert (first["ListUnitPrice"], first["BilledCost"], first["SkuId"], first["BillingAccountId"]) == (
        "2.4",
        "460.80",  # 24 h x 8 GPUs x 2.40
        "high-priority/gpu/reserved",
        "rd-001",
    )
    assert json.loads(first["Tags"]) == {
        "cluster": "default",
        "cost-center": "rd-001",
        "gpu-tier": "high-priority",
        "team": "research",
    }


def test_a_correction_of_a_closed_month_is_billed_in_the_next_and_charged_in_its_own(finance, october):
    close_period(date(2026, 10, 1), actor=october.finance)
    UsageSample.objects.create(
        cluster=Cluster.objects.get(name="default"), namespace=october.namespace("ml-research"),
        quota_name="ml-research-quota", resource=GPU, time=at(21, 2), hard=Decimal(12), used=Decimal(12),
    )  # fmt: skip
    roll_up(now=at(2, 1, month=11), max_hours=10_000)

    focus = read(finance.get(URL, {"start": "2026-11-01", "end": "2026-11-02"}))

    corrections = [row for row in focus if row["ChargeClass"] == "Correction"]
    for row in focus:
        check_focus_row(row)
    assert {(row["ChargePeriodStart"], row["BillingPeriodStart"]) for row in corrections} == {
        ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
    }
    gpu = next(row for row in corrections if row["SkuId"] == "high-priority/gpu/reserved")
    # Oct 21 02:00-05:00 were unknown; the late sample holds for the 2 h max gap: 2 h x 12 GPUs at 2.40.
    assert (gpu["PricingQuantity"], gpu["BilledCost"], gpu["ListUnitPrice"]) == ("24.000000", "57.60", "2.4")


def test_a_bad_range_is_a_400_naming_the_field(finance):
    response = finance.get(URL, {"start": "2026-10-01", "end": "2026-09-01"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"end": ["Must be after start."]}


def test_a_member_exports_only_their_teams_namespaces(october):
    client = APIClient()
    client.force_login(october.research_member)

    focus = read(client.get(URL, {"start": "2026-10-01", "end": "2026-10-03"}))

    assert {row["ResourceName"] for row in focus} == {"ml-research"}
