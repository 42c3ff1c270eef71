"""A time-boxed grant in a real browser: the lead asks until a date, the approver sees the period and shortens it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from teams.models import Grant, Request
from tests.e2e.pages import open_decision

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GPU_INPUT = "Guaranteed GPUs (requests.nvidia.com/gpu)"


def test_a_lead_asks_for_gpus_until_a_date_and_the_approver_sees_the_period_and_shortens_it(
    sign_in, live_server, research, screenshots
):
    until = timezone.localdate() + timedelta(days=14)
    shorter = until - timedelta(days=4)
    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/requests/new/change_quota/?namespace={research.name}")
    lead.get_by_label(GPU_INPUT).fill("16")
    lead.get_by_label("Until (optional)").fill((timezone.localdate() - timedelta(days=1)).isoformat())
    lead.locator("#f-until-error", has_text="Must be after today").wait_for()
    lead.get_by_label("Until (optional)").fill(until.isoformat())
    lead.get_by_label("Justification").fill("Paper deadline: 8 more GPUs for two weeks.")
    lead.screenshot(path=screenshots / "grant-1-request-form.png", full_page=True)
    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_url("**/requests/*/")
    request_id = int(lead.url.rstrip("/").rsplit("/", 1)[1])
    asked = lead.locator(".grant-facts").inner_text()

    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/queue/")
    row = approver.locator(f"#request-{request_id}")
    period = row.locator(".until").inner_text()
    impact = row.locator(".impact").inner_text()
    approver.screenshot(path=screenshots / "grant-2-queue.png", full_page=True)
    open_decision(row)
    row.get_by_label("Until (you may shorten it)").fill(shorter.isoformat())
    row.get_by_role("button", name="Approve").click()
    row.get_by_text(f"Request #{request_id} approved").wait_for()
    lead.goto(f"{live_server.url}/requests/{request_id}/")
    granted = lead.locator(".grant-facts").inner_text()

    assert f"Asked for until the end of {until.isoformat()}" in asked
    assert period == f"Time-boxed: until {until.isoformat()}, then it goes back on its own."
    period_only = f"for the period only, until {until.isoformat()}"
    assert impact.startswith(f"Capacity impact on default {period_only}: guaranteed GPUs 24 → 32")
    assert Grant.objects.get(request_id=request_id).until == shorter
    assert f"keeps this until the end of {shorter.isoformat()}" in granted
    assert f"shortened by the approver from {until.isoformat()}" in granted
    assert lead.get_by_role("link", name="Ask for an extension").is_visible()
    assert Request.objects.get(pk=request_id).state in (Request.State.APPROVED, Request.State.APPLYING)
