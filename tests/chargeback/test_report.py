"""The report over October, computed by hand (tests/chargeback/conftest.py), through the API."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from teams.models import GpuTier, Rate
from tests.chargeback.conftest import at

URL = "/api/v1/chargeback/"

RESEARCH = {
    "gpu_reserved_hours": "7920.000000",
    "gpu_limit_hours": "7920.000000",
    "gpu_used_hours": "5514.000000",
    "gpu_burst_hours": "0.000000",
    "gpu_idle_hours": "2406.000000",
    "gpu_utilization": "0.6962",
    "gpu_unknown_hours": "4.000000",
    "gpu_used_unknown_hours": "4.000000",
    "cpu_reserved_core_hours": "47360.000000",
    "cpu_used_core_hours": "12210.000000",
    "cpu_burst_core_hours": "0.000000",
    "cpu_idle_core_hours": "35150.000000",
    "cpu_utilization": "0.2578",
    "cpu_unknown_hours": "4.000000",
    "cpu_used_unknown_hours": "4.000000",
    "memory_reserved_gib_hours": "189440.000000",
    "memory_used_gib_hours": "74000.000000",
    "memory_burst_gib_hours": "0.000000",
    "memory_idle_gib_hours": "115440.000000",
    "memory_utilization": "0.3906",
    "memory_unknown_hours": "4.000000",
    "memory_used_unknown_hours": "4.000000",
    "cost_gpu_reserved": "19008.00",
    "cost_gpu_burst": "0.00",
    "cost_cpu_reserved": "2368.00",
    "cost_cpu_burst": "0.00",
    "cost_memory_reserved": "1894.40",
    "cost_memory_burst": "0.00",
    "cost_total": "23270.40",
    # The 2,406 idle reserved GPU-hours at high-priority's 2.40.
    "cost_gpu_idle": "5774.40",
    "currency": "USD",
    "line": "usage",
    "adjusts": "",
}
NOTHING = {
    "cpu_reserved_core_hours": "0.000000",
    "cpu_used_core_hours": "0.000000",
    "cpu_burst_core_hours": "0.000000",
    "cpu_idle_core_hours": "0.000000",
    "cpu_utilization": None,
    "cpu_unknown_hours": "0.000000",
    "cpu_used_unknown_hours": "0.000000",
    "memory_reserved_gib_hours": "0.000000",
    "memory_used_gib_hours": "0.000000",
    "memory_burst_gib_hours": "0.000000",
    "memory_idle_gib_hours": "0.000000",
    "memory_utilization": None,
    "memory_unknown_hours": "0.000000",
    "memory_used_unknown_hours": "0.000000",
}
EXPERIMENTS = {
    "gpu_reserved_hours": "0.000000",
    "gpu_limit_hours": "5952.000000",
    "gpu_used_hours": "1482.000000",
    "gpu_burst_hours": "1482.000000",
    "gpu_idle_hours": "0.000000",
    "gpu_utilization": None,
    "gpu_unknown_hours": "0.000000",
    "gpu_used_unknown_hours": "3.000000",
    **NOTHING,
    "cost_gpu_reserved": "0.00",
    "cost_gpu_burst": "1185.60",
    "cost_cpu_reserved": "0.00",
    "cost_cpu_burst": "0.00",
    "cost_memory_reserved": "0.00",
    "cost_memory_burst": "0.00",
    "cost_total": "1185.60",
    "cost_gpu_idle": "0.00",
    "currency": "USD",
    "line": "usage",
    "adjusts": "",
}
OCTOBER = {"period_start": "2026-10-01T00:00:00+00:00", "period_end": "2026-11-01T00:00:00+00:00"}
GROUPS = {
    "cost_center": [
        {
            "group": "ds-001",
            "group_name": "Data Science",
            "cost_center": "ds-001",
            "cluster": "",
            **OCTOBER,
            **EXPERIMENTS,
        },
        {
            "group": "rd-001",
            "group_name": "Research & Development",
            "cost_center": "rd-001",
            "cluster": "",
            **OCTOBER,
            **RESEARCH,
        },
    ],
    "team": [
        {
            "group": "data-science",
            "group_name": "Data Science",
            "cost_center": "ds-001",
            "cluster": "",
            **OCTOBER,
            **EXPERIMENTS,
        },
        {
            "group": "research",
            "group_name": "ML Research",
            "cost_center": "rd-001",
            "cluster": "",
            **OCTOBER,
            **RESEARCH,
        },
    ],
    "namespace": [
        {
            "group": "ml-experiments",
            "group_name": "ml-experiments (data-science)",
            "cost_center": "ds-001",
            "cluster": "default",
            **OCTOBER,
            **EXPERIMENTS,
        },
        {
            "group": "ml-research",
            "group_name": "ml-research (research)",
            "cost_center": "rd-001",
            "cluster": "default",
            **OCTOBER,
            **RESEARCH,
        },
    ],
    "tier": [
        {
            "group": "best-effort",
            "group_name": "Best effort",
            "cost_center": "",
            "cluster": "",
            **OCTOBER,
            **EXPERIMENTS,
        },
        {
            "group": "high-priority",
            "group_name": "High priority",
            "cost_center": "",
            "cluster": "",
            **OCTOBER,
            **RESEARCH,
        },
    ],
}


@pytest.fixture
def finance(october) -> APIClient:
    client = APIClient()
    client.force_login(october.finance)
    return client


@pytest.mark.parametrize("group_by", list(GROUPS))
def test_october_by_every_grouping_is_what_was_computed_by_hand(finance, group_by):
    response = finance.get(URL, {"start": "2026-10-01", "end": "2026-11-01", "group_by": group_by})

    assert response.status_code == 200
    report = response.json()
    assert report["rows"] == GROUPS[group_by]
    assert (report["start"], report["end"], report["complete_until"]) == (
        "2026-10-01T00:00:00+00:00",
        "2026-11-01T00:00:00+00:00",
        "2026-11-01T23:00:00+00:00",
    )
    assert (report["group_by"], report["step"], report["currency"]) == (group_by, None, "USD")
    assert report["totals"]["gpu_reserved_hours"] == "7920.000000"
    assert report["totals"]["gpu_used_hours"] == "6996.000000"
    assert report["totals"]["gpu_utilization"] == "0.6962"
    assert report["totals"]["cost_total"] == "24456.00"
    assert report["totals"]["cost_gpu_idle"] == "5774.40"


def test_a_price_change_mid_month_splits_the_month(finance):
    high = GpuTier.objects.get(slug="high-priority")
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=at(16).date(), price="3.0")

    response = finance.get(URL, {"start": "2026-10-01", "end": "2026-11-01", "group_by": "namespace", "step": "month"})

    research = response.json()["rows"][1]
    assert research["group"] == "ml-research"
    # Oct 1-11: 240 h x 8, Oct 11-16: 120 h x 12 = 3,360 GPU-hours at 2.40; the other 4,560 at 3.00.
    assert research["cost_gpu_reserved"] == "21744.00"
    assert research["cost_total"] == "26006.40"


def test_a_day_with_a_gap_in_sampling(finance):
    response = finance.get(URL, {"start": "2026-10-21", "end": "2026-10-22", "group_by": "namespace", "step": "day"})

    research = response.json()["rows"][1]
    # 00:00-01:00 at 12/6 (the last sample holds for the max gap), 01:00-05:00 unknown, then 19 h at 12/12.
    assert (research["gpu_reserved_hours"], research["gpu_used_hours"], research["gpu_unknown_hours"]) == (
        "240.000000",
        "234.000000",
        "4.000000",
    )
    assert research["cost_gpu_reserved"] == "576.00"


def test_weeks_start_on_monday_and_are_clipped_to_the_period(finance):
    response = finance.get(URL, {"start": "2026-10-01", "end": "2026-11-01", "group_by": "namespace", "step": "week"})

    research = [row for row in response.json()["rows"] if row["group"] == "ml-research"]
    assert [(row["period_start"][:10], row["period_end"][:10]) for row in research] == [
        ("2026-10-01", "2026-10-05"),
        ("2026-10-05", "2026-10-12"),
        ("2026-10-12", "2026-10-19"),
        ("2026-10-19", "2026-10-26"),
        ("2026-10-26", "2026-11-01"),
    ]
    # Oct 19-20 at 12, Oct 21 as above, Oct 22-25 at 12.
    assert research[3]["gpu_reserved_hours"] == "1968.000000"
    assert research[3]["gpu_used_hours"] == "1674.000000"
    assert sum(float(row["gpu_reserved_hours"]) for row in research) == 7920


def test_hours_around_whole_days_come_from_the_hourly_rollup(finance):
    response = finance.get(
        URL, {"start": "2026-10-10T20:00:00Z", "end": "2026-10-12T03:00:00Z", "group_by": "namespace"}
    )

    research = response.json()["rows"][1]
    # 4 h at 8 on Oct 10, then Oct 11 (24 h) and 3 h of Oct 12 at 12.
    assert research["gpu_reserved_hours"] == str(4 * 8 + 27 * 12) + ".000000"


def test_the_csv_is_the_json(finance):
    query = {"start": "2026-10-01", "end": "2026-11-01", "group_by": "namespace", "step": "week"}

    as_json = finance.get(URL, {**query, "format": "json"}).json()
    as_csv = finance.get(URL, {**query, "format": "csv"})

    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_csv["Content-Disposition"] == 'attachment; filename="chargeback-namespace-2026-10-01-2026-11-01.csv"'
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert list(rows[0]) == as_json["columns"]
    assert rows == [{key: "" if value is None else value for key, value in row.items()} for row in as_json["rows"]]


def test_an_unchanged_report_is_a_304_for_its_etag(finance):
    query = {"start": "2026-10-01", "end": "2026-11-01"}
    first = finance.get(URL, query)

    again = finance.get(URL, query, HTTP_IF_NONE_MATCH=first["ETag"])
    as_csv = finance.get(URL, {**query, "format": "csv"}, HTTP_IF_NONE_MATCH=first["ETag"])

    assert first["ETag"].startswith('"')
    assert again.status_code == 304
    assert again.content == b""
    assert as_csv.status_code == 200


def test_past_the_rollup_the_report_is_provisional_and_silence_becomes_unknown(finance):
    response = finance.get(URL, {"start": "2026-11-01", "end": "2026-12-01", "group_by": "namespace"})

    report = response.json()
    assert report["complete_until"] == "2026-11-01T23:00:00+00:00"
    assert report["provisional_until"] == "2026-12-01T00:00:00+00:00"
    research = report["rows"][1]
    assert (research["period_start"], research["period_end"]) == (
        "2026-11-01T00:00:00+00:00",
        "2026-12-01T00:00:00+00:00",
    )
    # The last sample (Oct 31 23:00) holds for the 2 h max gap; nothing came after it: 22 h rolled up, 697 more raw.
    assert (research["gpu_reserved_hours"], research["gpu_unknown_hours"]) == ("12.000000", "719.000000")


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({}, {"start": ["This field is required."], "end": ["This field is required."]}),
        (
            {"start": "2026-10-01", "end": "2026-10-01"},
            {"end": ["Must be after start."]},
        ),
        (
            {"start": "2026-10-01T10:30:00Z", "end": "2026-11-01"},
            {"start": ["Must be on a whole hour (UTC): reports are made of hourly rollups."]},
        ),
        (
            {"start": "1066-10-14", "end": "9999-12-31"},
            {
                "start": ["Must be between 2000-01-01 and 2100-01-01."],
                "end": ["Must be between 2000-01-01 and 2100-01-01."],
            },
        ),
        (
            {"start": "2026-13-01", "end": "2026-11-01"},
            {
                "start": [
                    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD, "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
                ]
            },
        ),
        (
            {"start": "2026-10-01", "end": "2026-11-01", "group_by": "planet", "step": "year"},
            {
                "group_by": ['"planet" is not a valid choice.'],
                "step": ['"year" is not a valid choice.'],
            },
        ),
        ({"start": "2026-10-01", "end": "2026-11-01", "format": "xml"}, {"format": ["Choose json or csv."]}),
    ],
)
def test_bad_parameters_are_a_400_naming_them(world, query, fields):
    client = APIClient()
    client.force_login(world.finance)

    response = client.get(URL, query)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["fields"] == fields


def test_a_user_without_a_team_is_refused_in_the_one_error_body_even_when_asking_for_csv(world):
    client = APIClient()
    client.force_login(get_user_model().objects.create_user("outsider"))

    response = client.get(URL, {"start": "2026-10-01", "end": "2026-11-01", "format": "csv"})

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": 403,
        "code": "permission_denied",
        "detail": "Chargeback is for members of a team, the finance group and approvers.",
        "fields": {},
    }


def test_a_lead_reads_their_own_teams_costs_only(october):
    client = APIClient()
    client.force_login(october.research_lead)

    report = client.get(URL, {"start": "2026-10-01", "end": "2026-11-01", "group_by": "team"}).json()

    assert [(row["group"], row["cost_total"]) for row in report["rows"]] == [("research", "23270.40")]
    assert (report["totals"]["cost_total"], report["totals"]["gpu_reserved_hours"]) == ("23270.40", "7920.000000")
