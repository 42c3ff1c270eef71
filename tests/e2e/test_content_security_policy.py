"""The pages work in a real browser under the Content-Security-Policy: nothing refused, htmx still swaps.

`csp_violations` (tests/e2e/conftest.py) fails each test on any refusal the browser reports.
"""

import pytest
from django.conf import settings
from playwright.sync_api import Page

from tests.e2e.conftest import watch_csp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def visit(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def test_a_lead_s_pages_load_their_chart_and_answer_live_under_the_policy(world, sign_in, live_server):
    lead = sign_in("research-lead")

    visit(lead, f"{live_server.url}/namespaces/ml-research/")
    lead.locator(".chart figure.gpu-chart svg").wait_for()
    lead.get_by_role("button", name="7d").click()
    lead.locator('.chart button[aria-pressed="true"]', has_text="7d").wait_for()
    lead.get_by_label("GPUs per pod").fill("2")
    lead.get_by_role("button", name="Check").click()
    lead.locator("#fit-answer[aria-live]").wait_for()
    visit(lead, f"{live_server.url}/requests/new/change_quota/?namespace=ml-research")
    lead.get_by_label("Guaranteed GPUs (requests.nvidia.com/gpu)").fill("12")
    lead.locator("tr.changed", has_text="requests.nvidia.com/gpu").wait_for()
    for path in ("/teams/", "/requests/", "/profile/"):
        visit(lead, f"{live_server.url}{path}")


def test_approver_and_finance_pages_the_browsable_api_and_swagger_load_under_the_policy(world, sign_in, live_server):
    approver = sign_in("approver")
    for path in ("/queue/", "/cluster/", "/api/v1/teams/"):
        visit(approver, f"{live_server.url}{path}")
    visit(approver, f"{live_server.url}/api/schema/swagger/")
    approver.locator(".swagger-ui .info").wait_for()

    finance = sign_in("finance")
    visit(finance, f"{live_server.url}/chargeback/")
    finance.get_by_role("heading", name="Chargeback").wait_for()


def test_the_lockout_page_is_in_the_portal_s_layout(world, browser, live_server, csp_violations):
    page = browser.new_context().new_page()
    watch_csp(page, csp_violations)
    for password in ["wrong"] * settings.AXES_FAILURE_LIMIT + [settings.DEMO_PASSWORD]:
        visit(page, f"{live_server.url}/accounts/login/")
        page.get_by_label("User name").fill("finance")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    assert page.get_by_role("heading", name="Sign-in locked").is_visible()
    assert "signing in is locked for 15 minutes" in page.get_by_role("alert").inner_text()
    assert page.locator("header.top .brand").inner_text() == "GPU Quota Portal"
    page.context.close()
