"""In Chromium: an approver writes an auto-approval rule (a bad bound is named next to its input), and a team
lead reads a downsize proposal's evidence and declines it with a reason."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chargeback.idle import propose_downsizes
from teams.models import AutoApprovalRule, DownsizeProposal, Request
from tests.usage import roll_up_until, seed_gpu_usage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_approver_writes_a_rule_and_a_bad_bound_is_named_next_to_its_input(world, sign_in, live_server):
    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/rules/")
    approver.get_by_role("link", name="New rule").click()
    approver.get_by_label("Name").fill("Small asks of busy teams")
    approver.get_by_label("Order").fill("10")
    approver.get_by_label("Kind").select_option("change_quota")
    approver.get_by_label("At most this many GPUs more").fill("4")
    approver.get_by_label("Team's GPU usage at least (%)").fill("180")
    approver.get_by_label("Usage window (days)").fill("7")
    approver.get_by_role("button", name="Save the rule").click()

    assert (
        "Ensure this value is less than or equal to 100."
        in approver.locator("#id_min_usage_percent-error").inner_text()
    )
    assert not AutoApprovalRule.objects.exists()
    approver.get_by_label("Team's GPU usage at least (%)").fill("80")
    approver.get_by_role("button", name="Save the rule").click()
    approver.wait_for_url("**/rules/")

    row = approver.locator("table.rules tbody tr").first.inner_text()
    assert "Small asks of busy teams" in row
    assert "usage ≥ 80% over 7 days" in row
    assert "no decisions yet" in row
    assert AutoApprovalRule.objects.get().mode == AutoApprovalRule.Mode.DRY_RUN


def test_a_lead_reads_a_proposals_evidence_and_declines_it_with_a_reason(world, sign_in, live_server):
    now = timezone.now()
    seed_gpu_usage(world.namespace("ml-research"), now - timedelta(days=15), now, lambda hour: "2")
    roll_up_until(now)
    [proposal] = propose_downsizes(now)

    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/requests/{proposal}/")
    evidence = lead.locator("section.proposal").inner_text()
    assert "Downsize proposal: frees 5 GPUs" in evidence
    assert "8 → 3" in evidence
    lead.get_by_label("Why the team keeps these GPUs (required)").fill("The March training run needs all eight.")
    lead.get_by_role("button", name="Decline").click()
    lead.wait_for_url(f"**/requests/{proposal}/")

    assert f"Proposal #{proposal} declined." in lead.locator(".messages").inner_text()
    assert Request.objects.get(pk=proposal).state == Request.State.REJECTED
    assert DownsizeProposal.objects.get(request_id=proposal).declined_at is not None
