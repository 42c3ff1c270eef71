"""The chargeback page: finance and approvers see a table per cost center, a CSV each, and the GPU chart."""

import csv
import io
import re

import pytest
from django.urls import reverse

from chargeback.forms import last_month
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
    assert "23270.40 USD · 7920.000000 GPU-hours reserved, 5514.000000 used" in research
    assert "ML Research" in research
    csv_link = (
        "/api/v1/chargeback/?start=2026-10-01&amp;end=2026-11-01&amp;group_by=team&amp;format=csv"
        "&amp;cost_center=rd-001"
    )
    assert f'href="{csv_link}"' in research
    assert "Usage is rolled up until 2026-11-01 23:00 UTC" in page


def test_the_chart_is_inline_svg_with_reserved_and_used_bars_per_team(october, client):
    client.force_login(october.finance)

    page = client.get(reverse("chargeback:report"), OCTOBER).content.decode()

    svg = page[page.index("<svg") : page.index("</svg>")]
    assert re.findall(r"<title>([^<]+)</title></rect>", svg) == [
        "Data Science: 0.000000 GPU-hours reserved",
        "Data Science: 1482.000000 GPU-hours used",
        "ML Research: 7920.000000 GPU-hours reserved",
        "ML Research: 5514.000000 GPU-hours used",
    ]
    widths = [float(width) for width in re.findall(r'<rect class="\w+" x="0" y="\d+" width="([\d.]+)"', svg)]
    assert widths == [0.0, round(1482 / 7920 * 470, 1), 470.0, round(5514 / 7920 * 470, 1)]
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


@pytest.mark.parametrize("persona", ["research_member", "research_lead", "platform_lead"])
def test_everyone_else_gets_a_403(world, client, persona):
    client.force_login(getattr(world, persona))

    response = client.get(reverse("chargeback:report"))

    assert response.status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(db, client):
    response = client.get(reverse("chargeback:report"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/chargeback/"


def test_without_a_period_the_page_shows_last_month(world, client):
    client.force_login(world.finance)

    response = client.get(reverse("chargeback:report"))

    start, end = last_month()
    assert response.status_code == 200
    assert f'value="{start.isoformat()}"' in response.content.decode()
    assert f'value="{end.isoformat()}"' in response.content.decode()
    assert "No usage was recorded in this period." in response.content.decode()


def test_a_bad_period_is_a_400_that_says_why(world, client):
    client.force_login(world.finance)

    response = client.get(reverse("chargeback:report"), {"start": "2026-10-31", "end": "2026-10-01"})

    assert response.status_code == 400
    assert "Must not be before From." in response.content.decode()


def test_last_month_is_the_whole_previous_calendar_month():
    assert last_month(at(15, month=3).date()) == (at(1, month=2).date(), at(28, month=2).date())
