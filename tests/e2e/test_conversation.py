"""Talking about a request in a real browser: "12 instead of 16?", a second version, and a grant of part of it."""

import pytest

from teams.models import Request
from tests.e2e.pages import open_decision
from tests.e2e.test_quota_request import GPU_INPUT, ask_for_more_gpus
from tests.kube import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_approver_asks_for_changes_the_lead_resubmits_and_gets_part_of_it_on_the_cluster(
    sign_in, live_server, research, cluster, worker, core, screenshots
):
    lead = sign_in("research-lead")
    request_id = ask_for_more_gpus(lead, live_server, research, "16", "ICML deadline: 8 more GPUs.")

    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/queue/")
    card = approver.locator(f"#request-{request_id}")
    open_decision(card)
    card.get_by_label("What should change (required)").fill("12 instead of 16? The cluster is tight.")
    card.get_by_role("button", name="Ask for changes").click()
    card.get_by_text("sent back to its requester").wait_for()

    lead.goto(f"{live_server.url}/requests/{request_id}/")
    assert "Changes requested" in lead.locator("#state").inner_text()
    assert "12 instead of 16? The cluster is tight." in lead.locator("#conversation").inner_text()
    lead.get_by_label("Add a comment").fill("12 works if we get them this week.")
    lead.get_by_role("button", name="Comment").click()
    lead.locator(".comment", has_text="12 works").wait_for()
    lead.get_by_role("link", name="Change and send again").first.click()
    gpus = lead.get_by_label(GPU_INPUT)
    assert gpus.input_value() == "16"  # the form holds the version the approver read
    gpus.fill("12")
    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_url(f"**/requests/{request_id}/")
    assert "sent again as version 2" in lead.locator(".messages").inner_text()

    approver.goto(f"{live_server.url}/queue/")
    changed = approver.locator(f"#request-{request_id} .revision").inner_text()
    assert "Version 2, changed since the first" in changed
    assert "16 → 12" in changed
    approver.goto(f"{live_server.url}/requests/{request_id}/#decide")
    approver.get_by_label("Grant of requests.nvidia.com/gpu in ml-research-quota").fill("10")
    approver.locator("#decide").get_by_role("button", name="Approve").click()
    approver.wait_for_load_state()
    approver.screenshot(path=screenshots / "conversation-granted.png", full_page=True)

    wait_until(
        lambda: Request.objects.get(pk=request_id).state == Request.State.APPLIED, timeout=60, what="the grant applied"
    )
    quota = core.read_namespaced_resource_quota("ml-research-quota", research.name)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "10"
    lead.reload()
    granted = lead.locator("table.grant").inner_text()
    assert "Granted less than asked" in granted
    assert "12\t10" in granted  # asked, then granted, in the row of requests.nvidia.com/gpu
