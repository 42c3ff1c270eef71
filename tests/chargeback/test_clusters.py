"""Chargeback by cluster: October (tests/chargeback/conftest.py) on the default cluster, plus a second
ml-research on cluster gpu-b, computed by hand.

gpu-b's ml-research (high-priority, guaranteed) holds 4 GPUs and uses all 4, sampled hourly, all October:

    744 h x 4 = 2,976 GPU-hours reserved and used, no CPU or memory; at 2.40: 7,142.40

The default cluster's ml-research and ml-experiments cost 23,270.40 and 1,185.60 (tests/chargeback/test_report.py):
24,456.00, with 7,920 GPU-hours reserved and 6,996 used.
"""

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from chargeback.rollups import roll_up
from provisioning.models import UsageSample
from teams.models import GpuTier, Rate, TeamNamespace
from tests.chargeback.conftest import END, GPU, START, at, hours, write_october
from tests.clusters import connect

URL = "/api/v1/chargeback/"
OCTOBER = {"start": "2026-10-01", "end": "2026-11-01"}
USAGE_TABLES = (
    "chargeback_hourlyusage",
    "chargeback_dailyusage",
    "chargeback_monthlyusage",
    "chargeback_teammonthlyusage",
    "chargeback_usageadjustment",
)


@pytest.fixture
def two_clusters(world, settings):
    """October on the default cluster and on gpu-b, rolled up on Nov 2; CPU and memory priced as in `october`."""
    settings.CHARGEBACK_MAX_GAP_SECONDS = 7200
    high = GpuTier.objects.get(slug="high-priority")
    Rate.objects.create(tier=high, resource="cpu", kind="reserved", effective_from=at(1).date(), price="0.05")
    Rate.objects.create(tier=high, resource="memory", kind="reserved", effective_from=at(1).date(), price="0.01")
    write_october(world)
    gpu_b = connect("gpu-b")
    research_b = world.namespace("ml-research")
    research_b.pk, research_b.cluster = None, gpu_b  # the same name, on another cluster
    research_b.save()
    UsageSample.objects.bulk_create(
        UsageSample(
            cluster=gpu_b,
            namespace=research_b,
            quota_name="ml-research-quota",
            resource=GPU,
            time=moment,
            hard=Decimal(4),
            used=Decimal(4),
        )
        for moment in hours(START, END)
    )
    return world


def rolled_up() -> None:
    roll_up(now=at(2, month=11), max_hours=10_000)


@pytest.fixture
def finance(two_clusters) -> APIClient:
    client = APIClient()
    client.force_login(two_clusters.finance)
    return client


def by_group(report: dict, *columns: str) -> dict:
    return {(row["group"], row["cluster"]): tuple(row[column] for column in columns) for row in report["rows"]}


def test_grouped_by_cluster_each_has_its_hours_and_money_and_together_they_are_the_cost_centers_total(finance):
    rolled_up()

    by_cluster = finance.get(URL, {**OCTOBER, "group_by": "cluster"}).json()
    by_cost_center = finance.get(URL, {**OCTOBER, "group_by": "cost_center"}).json()

    assert by_cluster["group_by"] == "cluster"
    assert by_group(by_cluster, "group_name", "cost_center", "gpu_reserved_hours", "gpu_used_hours", "cost_total") == {
        ("default", "default"): ("default", "", "7920.000000", "6996.000000", "24456.00"),
        ("gpu-b", "gpu-b"): ("gpu-b", "", "2976.000000", "2976.000000", "7142.40"),
    }
    assert by_cluster["totals"]["cost_total"] == "31598.40"
    assert by_cluster["totals"] == by_cost_center["totals"]


def test_a_cluster_filter_shows_only_that_clusters_usage(finance):
    rolled_up()

    by_namespace = finance.get(URL, {**OCTOBER, "group_by": "namespace", "cluster": "gpu-b"}).json()
    by_team = finance.get(URL, {**OCTOBER, "group_by": "team", "cluster": "default"}).json()
    every_namespace = finance.get(URL, {**OCTOBER, "group_by": "namespace"}).json()

    assert by_namespace["cluster"] == "gpu-b"
    assert by_group(by_namespace, "gpu_reserved_hours", "cost_total") == {
        ("ml-research", "gpu-b"): ("2976.000000", "7142.40")
    }
    assert by_namespace["totals"]["cost_total"] == "7142.40"
    assert by_group(by_team, "cost_total") == {
        ("data-science", "default"): ("1185.60",),
        ("research", "default"): ("23270.40",),
    }
    # Unfiltered, the two namespaces called ml-research stay apart, each named with its cluster.
    assert by_group(every_namespace, "cost_total") == {
        ("ml-experiments", "default"): ("1185.60",),
        ("ml-research", "default"): ("23270.40",),
        ("ml-research", "gpu-b"): ("7142.40",),
    }


def test_a_cluster_rate_from_mid_month_bills_only_that_clusters_namespaces_at_it_from_that_day(finance):
    high = GpuTier.objects.get(slug="high-priority")
    gpu_b = TeamNamespace.objects.get(name="ml-research", cluster__name="gpu-b").cluster
    Rate.objects.create(
        tier=high, cluster=gpu_b, resource="gpu", kind="reserved", effective_from=date(2026, 10, 16), price="3.00"
    )
    rolled_up()

    by_namespace = finance.get(URL, {**OCTOBER, "group_by": "namespace"}).json()
    by_cluster = finance.get(URL, {**OCTOBER, "group_by": "cluster", "step": "month"}).json()
    by_tier = finance.get(URL, {**OCTOBER, "group_by": "tier"}).json()

    # gpu-b: Oct 1-16, 360 h x 4 = 1,440 GPU-hours at 2.40 (3,456.00); Oct 16-Nov 1, 384 h x 4 = 1,536 at 3.00
    # (4,608.00). The default cluster's ml-research keeps 2.40 all month: 7,920 x 2.40.
    assert by_group(by_namespace, "cost_gpu_reserved") == {
        ("ml-experiments", "default"): ("0.00",),
        ("ml-research", "default"): ("19008.00",),
        ("ml-research", "gpu-b"): ("8064.00",),
    }
    assert by_group(by_cluster, "cost_gpu_reserved") == {
        ("default", "default"): ("19008.00",),
        ("gpu-b", "gpu-b"): ("8064.00",),
    }
    assert by_group(by_tier, "cost_gpu_reserved") == {
        ("best-effort", ""): ("0.00",),
        ("high-priority", ""): ("27072.00",),
    }
    assert by_namespace["totals"] == by_cluster["totals"] == by_tier["totals"]


def test_whole_months_from_the_monthly_rollup_are_priced_at_their_clusters_rate(finance, django_assert_num_queries):
    high = GpuTier.objects.get(slug="high-priority")
    gpu_b = TeamNamespace.objects.get(name="ml-research", cluster__name="gpu-b").cluster
    Rate.objects.create(
        tier=high, cluster=gpu_b, resource="gpu", kind="reserved", effective_from=date(2026, 10, 1), price="3.00"
    )
    rolled_up()

    with django_assert_num_queries(9) as queries:  # the same 9 for any number of namespaces and clusters
        report = finance.get(URL, {"start": "2026-01-01", "end": "2026-11-01", "group_by": "team"}).json()

    usage_tables = {table for query in queries.captured_queries for table in USAGE_TABLES if table in query["sql"]}
    assert usage_tables == {"chargeback_teammonthlyusage", "chargeback_usageadjustment"}
    # October is read from the teams' monthly rows:
    # 2,976 GPU-hours on gpu-b at 3.00, 7,920 on the default cluster at 2.40.
    assert by_group(report, "cost_gpu_reserved") == {("data-science", ""): ("0.00",), ("research", ""): ("27936.00",)}


def test_an_unknown_cluster_is_a_400_naming_the_field(finance):
    for query in ({**OCTOBER, "cluster": "nowhere"}, {**OCTOBER, "cluster": "x" * 64}, {**OCTOBER, "cluster": "a\x00"}):
        response = finance.get(URL, query)

        assert response.status_code == 400
        assert list(response.json()["fields"]) == ["cluster"]
    assert finance.get(URL, {**OCTOBER, "cluster": "nowhere"}).json()["fields"] == {
        "cluster": ["No cluster has this name."]
    }
    assert finance.get(f"{URL}focus/", {**OCTOBER, "cluster": "nowhere"}).status_code == 400


def test_the_csv_has_the_cluster_column(finance):
    rolled_up()

    response = finance.get(URL, {**OCTOBER, "group_by": "namespace", "format": "csv"})

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0])[:5] == ["group", "group_name", "cost_center", "cluster", "period_start"]
    assert [(row["group"], row["cluster"], row["cost_total"]) for row in rows] == [
        ("ml-experiments", "default", "1185.60"),
        ("ml-research", "default", "23270.40"),
        ("ml-research", "gpu-b", "7142.40"),
    ]


def test_focus_names_each_namespaces_cluster_and_bills_what_the_report_bills(finance):
    rolled_up()

    response = finance.get(f"{URL}focus/", OCTOBER)

    focus = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    on_b = [row for row in focus if row["ResourceId"] == "gpu-b/ml-research"]
    assert sum(Decimal(row["BilledCost"]) for row in on_b) == Decimal("7142.40")
    assert {json.loads(row["Tags"])["cluster"] for row in on_b} == {"gpu-b"}
    assert sum(Decimal(row["BilledCost"]) for row in focus) == Decimal("31598.40")


def test_the_page_filters_by_cluster_and_shows_the_cluster_column(two_clusters, client):
    rolled_up()
    client.force_login(two_clusters.finance)

    page = client.get(
        "/chargeback/", {"start": "2026-10-01", "end": "2026-10-31", "group_by": "namespace", "cluster": "gpu-b"}
    )
    unknown = client.get("/chargeback/", {"start": "2026-10-01", "end": "2026-10-31", "cluster": "nowhere"})

    assert page.status_code == 200
    assert page.context["report"]["cluster"] == "gpu-b"
    assert [(row["group"], row["cluster"]) for row in page.context["report"]["rows"]] == [("ml-research", "gpu-b")]
    assert b'<th scope="col">Cluster</th>' in page.content
    assert "cluster=gpu-b" in page.context["csv_url"]
    assert unknown.status_code == 400
