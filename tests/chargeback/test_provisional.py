"""The current partial period, before any rollup, integrated from raw samples by hand.

ml-research (guaranteed quota), Dec 2 2026:
    10:00  GPU hard 8, used 4
    10:30  GPU hard 8, used 6
    now = 11:15
reserved 8 x 1.25 h = 10 GPU-hours; used 4 x 0.5 + 6 x 0.75 = 6.5 GPU-hours; 65% utilization.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import roll_up
from provisioning.models import UsageSample
from teams.models import Cluster
from tests.chargeback.conftest import GPU

DAY_START = datetime(2026, 12, 1, tzinfo=UTC)
MONTH_END = datetime(2027, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 11, 15, tzinfo=UTC)


@pytest.fixture
def first_minutes(world, settings):
    settings.CHARGEBACK_MAX_GAP_SECONDS = 7200
    cluster = Cluster.objects.get_default()
    research = world.namespace("ml-research")
    for minute, used in ((0, "4"), (30, "6")):
        UsageSample.objects.create(
            cluster=cluster,
            namespace=research,
            quota_name="ml-research-quota",
            resource=GPU,
            time=datetime(2026, 12, 2, 10, minute, tzinfo=UTC),
            hard=Decimal(8),
            used=Decimal(used),
        )
    return world


def report(viewer, group_by: str = "team") -> dict:
    return build_report(ReportQuery(start=DAY_START, end=MONTH_END, group_by=group_by), viewer=viewer, now=NOW)


def test_before_any_rollup_the_month_so_far_is_provisional_from_raw_samples(first_minutes):
    result = report(first_minutes.finance)

    assert result["complete_until"] is None
    assert result["provisional_until"] == "2026-12-02T11:15:00+00:00"
    [row] = result["rows"]
    assert (row["group"], row["period_end"]) == ("research", "2026-12-02T11:15:00+00:00")
    assert (row["gpu_reserved_hours"], row["gpu_used_hours"], row["gpu_utilization"]) == (
        "10.000000",
        "6.500000",
        "0.6500",
    )
    assert (result["totals"]["gpu_reserved_hours"], result["totals"]["gpu_used_hours"]) == ("10.000000", "6.500000")


def test_the_rolled_up_hour_and_the_provisional_rest_add_up_to_the_same(first_minutes):
    roll_up(now=NOW, max_hours=100)  # 10:00-11:00 becomes final; 11:00-11:15 stays raw

    result = report(first_minutes.finance)

    assert result["complete_until"] == "2026-12-02T11:00:00+00:00"
    assert result["provisional_until"] == "2026-12-02T11:15:00+00:00"
    [row] = result["rows"]
    assert (row["gpu_reserved_hours"], row["gpu_used_hours"]) == ("10.000000", "6.500000")


def test_a_lead_of_another_team_sees_none_of_it(first_minutes):
    assert report(first_minutes.platform_lead)["rows"] == []
    assert [row["group"] for row in report(first_minutes.research_member, "namespace")["rows"]] == ["ml-research"]
