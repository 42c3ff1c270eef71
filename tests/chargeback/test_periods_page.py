"""The month-end page: finance closes and reopens months with a button; approvers look; others are refused."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from chargeback.models import BillingPeriod
from chargeback.periods import close_period
from chargeback.rollups import roll_up
from provisioning.models import Cluster, UsageSample
from tests.chargeback.conftest import GPU, at

URL = reverse("chargeback:periods")
OCTOBER = {"month": "2026-10-01", "action": "close"}


def test_finance_closes_october_with_its_button_and_sees_who_closed_it(october, client):
    client.force_login(october.finance)
    page = client.get(URL).content.decode()
    assert "Close October 2026" in page
    assert "Close November 2026" not in page  # still running: not rolled up to its end

    response = client.post(URL, OCTOBER)

    assert response.status_code == 302
    period = BillingPeriod.objects.get(month=date(2026, 10, 1))
    assert (period.state, period.closed_by) == ("closed", october.finance)
    page = client.get(URL).content.decode()
    assert "Closed by finance on" in page
    assert "Reopen October 2026" in page
    assert period.snapshot["totals"]["cost_total"] in page


def test_closing_a_month_twice_is_a_400_that_says_why(october, client):
    client.force_login(october.finance)
    client.post(URL, OCTOBER)

    response = client.post(URL, OCTOBER)

    assert response.status_code == 400
    assert "October 2026 is closed already (by finance on" in response.content.decode()


def test_reopening_shows_what_changed_since_closing(october, client):
    close_period(date(2026, 10, 1), actor=october.finance)
    UsageSample.objects.create(
        cluster=Cluster.objects.get(name="default"), namespace=october.namespace("ml-research"),
        quota_name="ml-research-quota", resource=GPU, time=at(21, 2), hard=Decimal(12), used=Decimal(12),
    )  # fmt: skip
    roll_up(now=at(2, 1, month=11), max_hours=10_000)
    client.force_login(october.finance)

    response = client.post(URL, {"month": "2026-10-01", "action": "reopen"})

    assert response.status_code == 302
    page = client.get(URL).content.decode()
    assert "Open: reopened by finance" in page
    assert "October 2026 since it was closed" in page
    assert "ml-research" in page


@pytest.mark.parametrize(("persona", "status"), [("approver", 200), ("research_lead", 403)])
def test_approvers_look_without_buttons_and_team_leads_are_refused(october, client, persona, status):
    client.force_login(getattr(october, persona))

    response = client.get(URL)

    assert response.status_code == status
    assert "Close October 2026" not in response.content.decode()
    assert client.post(URL, OCTOBER).status_code == 403
    assert not BillingPeriod.objects.exists()


@pytest.mark.parametrize("body", [{}, {"month": "soon", "action": "close"}, {"month": "2026-10-01", "action": "x"}])
def test_a_bad_form_is_a_400_and_stores_nothing(october, client, body):
    client.force_login(october.finance)

    response = client.post(URL, body)

    assert response.status_code == 400
    assert not BillingPeriod.objects.exists()
