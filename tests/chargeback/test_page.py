"""The chargeback page: a table per cost center, grand totals, a CSV each, GPU charts; each sees their teams' costs."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from chargeback.forms import this_month
from tests.chargeback.conftest import at

OCTOBER = {"start": "2026-10-01", "end": "2026-10-31"}


@pytest.mark.parametrize("persona", ["finance", "approver"])
def test_finance_and_approvers_see_a_table_per_cost_center(october, client, persona):
    client.force_login(getattr(october, persona))

    response = client.get(reverse("chargeback:report"), OCTOBER)

    assert response.status_code == 200
    page = response.content.decode()
    sections = re.findall(r'<section class="card" aria-labelledby="cc-([^"]+)">', page)
    assert sections == ["ds-001", "rd-001"]
    research = page[page.index('id="cc-rd-001"') :]
    assert "23270.40 USD · 7920.00 GPU-hours reserved, 5514.00 used" in research
    assert '<td class="num">70%</td>' in research  # 0.6962 of the reserved GPU-hours used
    assert "ML Research" in research
    csv_link = (
        "/api/v1/chargeback/?start=2026-10-01&amp;end=2026-11-01&amp;group_by=team&amp;format=csv"
        "&amp;cost_center=rd-001"
    )
    assert f'href="{csv_link}"' in research
    assert "Usage is rolled up until 2026-11-01 23:00 UTC" in page
    assert "Provisional" not in page
    assert "24456.00 USD</span> · 7920.00 GPU-hours reserved, 6996.00 used · utilization 70%" in page


def test_the_chart_is_inline_svg_with_reserved_and_used_bars_per_team(october, client):
    client.force_login(october.finance)

    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()

    svg = page[page.index("<svg") : page.index("</svg>")]
    assert re.findall(r"<title>([^<]+)</title></rect>", svg) == [
        "Data Science: 0.00 GPU-hours reserved",
        "Data Science: 1482.00 GPU-hours used",
        "ML Research: 7920.00 GPU-hours reserved",
        "ML Research: 5514.00 GPU-hours used",
    ]
    # The axis ends at a round 8000 above the longest bar, with a tick every 2000.
    widths = [float(width) for width in re.findall(r'<rect class="\w+" x="0" y="\d+" width="([\d.]+)"', svg)]
    assert widths == [0.0, round(1482 / 8000 * 470, 1), round(7920 / 8000 * 470, 1), round(5514 / 8000 * 470, 1)]
    assert re.findall(r'text-anchor="middle">([^<]+)</text>', svg) == ["0", "2000", "4000", "6000", "8000"]
    assert svg.count('tabindex="0"') == 4
    assert "<script" not in svg
    assert "cdn" not in page.lower()


def test_a_cost_centers_csv_holds_its_teams_only(october, client):
    client.force_login(october.finance)
    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()
    link = re.search(r'href="(/api/v1/chargeback/[^"]+cost_center=rd-001)"', page)[1].replace("&amp;", "&")

    response = client.get(link)

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["group"], row["cost_center"], row["cost_total"]) for row in rows] == [
        ("research", "rd-001", "23270.40")
    ]


def test_the_focus_download_link_exports_the_pages_period(october, client):
    client.force_login(october.finance)
    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()
    link = re.search(r'href="(/api/v1/chargeback/focus/[^"]+)"', page)[1].replace("&amp;", "&")

    response = client.get(link)

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert response["Content-Disposition"] == 'attachment; filename="focus-1.0-2026-10-01-2026-11-01.csv"'
    assert sum(Decimal(row["BilledCost"]) for row in rows) == Decimal("24456.00")


@pytest.mark.parametrize("persona", ["research_member", "research_lead"])
def test_a_teams_lead_and_members_see_their_own_teams_costs_only(october, client, persona):
    client.force_login(getattr(october, persona))

    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()

    assert re.findall(r'<section class="card" aria-labelledby="cc-([^"]+)">', page) == ["rd-001"]
    assert "23270.40 USD</span> · 7920.00 GPU-hours reserved, 5514.00 used" in page
    assert "Data Science" not in page


def test_a_lead_of_a_team_without_usage_sees_none(october, client):
    client.force_login(october.platform_lead)

    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()

    assert "No usage was recorded in this period." in page
    assert "ML Research" not in page


def test_grouped_by_tier_the_rows_span_cost_centers(october, client):
    client.force_login(october.finance)

    page = client.get(reverse("chargeback:report"), {**OCTOBER, "group_by": "tier"}).content.decode()

    assert re.findall(r'<section class="card" aria-labelledby="cc-([^"]+)">', page) == ["all"]
    assert re.findall(r'<th scope="row">([^<]+) <span', page) == ["Best effort", "High priority"]
    assert "group_by=tier&amp;format=csv" in page


def test_a_daily_trend_has_two_bars_a_day_with_their_values(october, client):
    client.force_login(october.finance)

    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()

    trend = page[page.index('<figure class="gpu-chart trend">') :]
    titles = re.findall(r"<title>([^<]+)</title></rect>", trend[: trend.index("</svg>")])
    assert len(titles) == 62
    assert titles[:2] == ["2026-10-01: 192.00 GPU-hours reserved", "2026-10-01: 138.00 GPU-hours used"]


def test_anonymous_visitors_are_sent_to_sign_in(db, client):
    response = client.get(reverse("chargeback:report"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/chargeback/"


def test_without_a_period_the_page_shows_this_month_to_date(world, client):
    client.force_login(world.finance)

    response = client.get(reverse("chargeback:report"))

    start, end = this_month()
    assert response.status_code == 200
    assert f'value="{start.isoformat()}"' in response.content.decode()
    assert f'value="{end.isoformat()}"' in response.content.decode()
    assert "No usage was recorded in this period." in response.content.decode()


def test_a_bad_period_is_a_400_that_says_why(world, client):
    client.force_login(world.finance)

    response = client.get(reverse("chargeback:report"), {"start": "2026-10-31", "end": "2026-10-01"})

    assert response.status_code == 400
    assert "Must not be before From." in response.content.decode()


def test_this_month_runs_from_its_first_day_to_today():
    assert this_month(at(15, month=3).date()) == (at(1, month=3).date(), at(15, month=3).date())
