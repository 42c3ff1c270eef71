"""Monthly rollups: a year report reads months, and says to the cent what it said from days."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chargeback.models import DailyUsage, MonthlyUsage, RollupState, TeamMonthlyUsage
from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import restart_from, roll_up
from teams.models import GpuTier, Rate
from tests.chargeback.conftest import at

NOW = datetime(2026, 11, 2, tzinfo=UTC)
QUERIES = [
    ReportQuery(start=at(1), end=at(1, month=11), group_by=group_by, step=step)
    for group_by in ("cost_center", "team", "namespace", "tier")
    for step in (None, "month")
] + [
    ReportQuery(start=at(1), end=at(1, 12, month=11), group_by="team"),  # a month and half a day after it
    ReportQuery(start=at(1), end=at(1, month=11), group_by="namespace", step="week"),  # weeks: days, never months
    ReportQuery(start=at(1), end=at(1, month=11), group_by="cost_center", cost_center="rd-001"),
]


def reports(viewer) -> list[dict]:
    return [build_report(query, viewer=viewer, now=NOW) for query in QUERIES]


def test_october_rolls_up_into_one_monthly_row_per_namespace_once_november_1_is_complete(october):
    rows = MonthlyUsage.objects.order_by("namespace__name").values_list("namespace__name", "month", "gpu_reserved")

    assert list(rows) == [("ml-experiments", at(1).date(), 0), ("ml-research", at(1).date(), 7920 * 3_600_000)]
    assert RollupState.objects.get(name=RollupState.MONTHLY).complete_until == at(1, month=11)


def test_each_team_month_is_the_sum_of_its_namespaces_months(october):
    namespaces = MonthlyUsage.objects.values_list("team__slug", "tier__slug", "gpu_reserved", "memory_used")
    expected: dict[tuple, list[int]] = {}
    for team, tier, reserved, memory in namespaces:
        sums = expected.setdefault((team, tier), [0, 0])
        sums[0], sums[1] = sums[0] + reserved, sums[1] + memory

    teams = TeamMonthlyUsage.objects.values_list("team__slug", "tier__slug", "month", "gpu_reserved", "memory_used")

    assert sorted(teams) == sorted((*key, at(1).date(), *sums) for key, sums in expected.items())
    assert any(reserved for *_, reserved, _ in teams)


def test_reports_by_anything_but_namespace_read_a_whole_month_from_the_teams_table(october):
    by_namespace = ReportQuery(start=at(1), end=at(1, month=11), group_by="namespace")
    others = [
        ReportQuery(start=at(1), end=at(1, month=11), group_by=group)
        for group in ("cost_center", "team", "tier", "cluster")
    ]
    before = [build_report(query, viewer=october.finance, now=NOW)["rows"] for query in others]
    assert build_report(by_namespace, viewer=october.finance, now=NOW)["rows"]

    MonthlyUsage.objects.all().delete()

    assert [build_report(query, viewer=october.finance, now=NOW)["rows"] for query in others] == before
    assert build_report(by_namespace, viewer=october.finance, now=NOW)["rows"] == []


def test_reports_from_months_equal_reports_from_days_to_the_cent(october):
    from_months = reports(october.finance)
    MonthlyUsage.objects.all().delete()
    RollupState.objects.filter(name=RollupState.MONTHLY).delete()

    assert reports(october.finance) == from_months


def test_a_whole_month_is_read_from_the_monthly_table_alone(october):
    query = ReportQuery(start=at(1), end=at(1, month=11), group_by="cost_center")
    before = build_report(query, viewer=october.finance, now=NOW)

    DailyUsage.objects.filter(month=at(1).date()).delete()

    assert build_report(query, viewer=october.finance, now=NOW)["rows"] == before["rows"]


@pytest.mark.parametrize("change_day", [16, 1])
def test_a_price_change_inside_a_month_reads_its_days_and_one_on_the_first_still_reads_the_month(october, change_day):
    high = GpuTier.objects.get(slug="high-priority")
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=at(change_day).date(), price="3.0")
    query = ReportQuery(start=at(1, month=9), end=at(1, month=11), group_by="namespace", step="month")
    from_months = build_report(query, viewer=october.finance, now=NOW)
    DailyUsage.objects.filter(month=at(1).date()).delete()

    from_what_is_left = build_report(query, viewer=october.finance, now=NOW)

    research = next(row for row in from_months["rows"] if row["group"] == "ml-research")
    assert research["cost_gpu_reserved"] == ("21744.00" if change_day == 16 else "23760.00")
    assert (from_what_is_left["rows"] == from_months["rows"]) is (change_day == 1)


def test_restarting_inside_a_month_rolls_that_month_up_again(october):
    research = october.namespace("ml-research")
    MonthlyUsage.objects.filter(namespace=research).update(gpu_reserved=1)
    TeamMonthlyUsage.objects.filter(team=research.team).update(gpu_reserved=1)

    restart_from(at(20))
    assert RollupState.objects.get(name=RollupState.MONTHLY).complete_until == at(1)
    roll_up(now=NOW, max_hours=10_000)

    assert MonthlyUsage.objects.get(namespace=research).gpu_reserved == 7920 * 3_600_000
    assert TeamMonthlyUsage.objects.get(team=research.team, tier=research.tier).gpu_reserved == 7920 * 3_600_000


def test_the_migration_that_adds_team_months_sums_the_months_already_rolled_up(transactional_db, october):
    expected = sorted(TeamMonthlyUsage.objects.values_list("team_id", "tier_id", "month", "gpu_reserved", "cpu_used"))
    assert expected
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()

    executor.migrate([("chargeback", "0007_usage_cluster_required")])
    executor.loader.build_graph()
    executor.migrate(latest)

    rows = TeamMonthlyUsage.objects.values_list("team_id", "tier_id", "month", "gpu_reserved", "cpu_used")
    assert sorted(rows) == expected
