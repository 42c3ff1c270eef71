"""Single sign-on in Chromium: through the provider's own sign-in page to the dashboard with the mapped team and
role, and out again through the provider's end-session page, under the portal's Content-Security-Policy."""

import pytest
from playwright.sync_api import Browser

from accounts.models import GroupMapping
from teams.roles import Role
from tests.e2e.conftest import watch_csp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_lead_signs_in_through_the_provider_lands_on_their_team_and_signs_out_of_both(
    world,
    sso,
    browser: Browser,
    live_server,
    csp_violations,
):
    GroupMapping.objects.create(provider_group="gpu-research-leads", role=Role.LEAD, team=world.research)
    sso.set_user("sub-nina", preferred_username="nina", email="nina@example.com", groups=["gpu-research-leads"])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch_csp(page, csp_violations)

    page.goto(f"{live_server.url}/teams/")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.wait_for_url(f"{sso.issuer}/oauth2/authorize?*")
    page.get_by_placeholder("sub").fill("sub-nina")
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{live_server.url}/teams/")

    assert page.locator(".who").inner_text() == "nina"
    page.get_by_role("heading", name="ml-research").wait_for()
    assert page.get_by_role("link", name="Ask for a namespace").is_visible()  # a lead of research
    assert page.get_by_role("link", name="Change quota").first.is_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{sso.issuer}/oauth2/end_session?*")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/teams/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    context.close()
