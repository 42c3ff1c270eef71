"""A lead's form journey and a token's life in Chromium: input kept, nothing sent twice, undoing asks first."""

import pytest

from accounts.models import ApiToken
from teams.models import Request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

#: Best-effort's defaults add a second quota (0 guaranteed GPUs outside its PriorityClass); high-priority's do not.
SCOPED_GPU_INPUT = '[name="quota|1|requests.nvidia.com/gpu"]'
WHY = "The vision group starts next week."


def test_a_lead_changes_the_tier_keeps_the_input_sends_once_and_is_asked_before_cancelling(world, sign_in, live_server):
    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/requests/new/create_namespace/")
    lead.get_by_label("Namespace name").fill("ml-vision")
    lead.get_by_label("Justification").fill(WHY)
    assert lead.locator(SCOPED_GPU_INPUT).count() == 0

    with lead.expect_response(lambda response: "tier=best-effort" in response.url):
        lead.get_by_label("GPU tier").select_option("best-effort")
    lead.wait_for_load_state("networkidle")

    assert lead.get_by_label("Namespace name").input_value() == "ml-vision"
    assert lead.get_by_label("Justification").input_value() == WHY
    assert lead.get_by_label("GPU tier").input_value() == "best-effort"
    assert lead.locator(SCOPED_GPU_INPUT).input_value() == "0"

    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_url("**/requests/*/")
    detail_url = lead.url
    lead.reload()
    lead.wait_for_load_state()

    item = Request.objects.get()
    assert lead.url == detail_url == f"{live_server.url}/requests/{item.pk}/"
    assert (item.namespace_name, item.proposed_spec["tier"], item.justification) == ("ml-vision", "best-effort", WHY)

    lead.get_by_role("link", name="Cancel this request").click()
    lead.get_by_role("heading", name=f"Cancel request #{item.pk}").wait_for()
    assert Request.objects.get().state == Request.State.PENDING
    lead.get_by_role("button", name="Cancel the request").click()
    lead.wait_for_url(detail_url)
    assert "Cancelled" in lead.locator("#state").inner_text()
    assert Request.objects.get().state == Request.State.CANCELLED


def test_a_token_is_created_once_shown_once_and_revoked_after_confirming(world, sign_in, live_server):
    person = sign_in("finance")
    person.goto(f"{live_server.url}/profile/")
    person.get_by_label("Name").fill("monthly export")
    person.get_by_role("button", name="Create token").click()
    person.locator("#new-token").wait_for()
    assert person.url == f"{live_server.url}/profile/"

    person.reload()
    person.wait_for_load_state()
    assert person.locator("#new-token").count() == 0
    token = ApiToken.objects.get()

    person.get_by_role("link", name="Revoke monthly export").click()
    person.get_by_role("button", name="Revoke the token").wait_for()
    assert ApiToken.objects.get().revoked_at is None
    person.get_by_role("button", name="Revoke the token").click()
    person.wait_for_url(f"{live_server.url}/profile/")
    person.get_by_text(f"Token {token.display_prefix}… (monthly export) revoked.").wait_for()
    assert ApiToken.objects.get().revoked_at is not None


def test_the_job_manifest_is_copied_with_one_click(world, sign_in, live_server):
    member = sign_in("research-member")
    member.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    member.goto(f"{live_server.url}/namespaces/ml-research/")

    member.get_by_role("button", name="Copy the Job").click()
    member.get_by_text("Copied.").wait_for()

    copied = member.evaluate("navigator.clipboard.readText()")
    assert copied == member.locator("#job-yaml").text_content()
    assert "image: pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime" in copied
