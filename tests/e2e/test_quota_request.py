"""The whole loop in a real browser: a lead asks for GPUs, an approver decides, the cluster follows."""

import pytest

from provisioning.sync import sync_usage
from teams.models import Request, TeamNamespace
from tests.e2e.pages import open_decision
from tests.kube import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

GPU_INPUT = "Guaranteed GPUs (requests.nvidia.com/gpu)"


def ask_for_more_gpus(page, live_server, namespace: TeamNamespace, gpus: str, why: str) -> int:
    page.goto(f"{live_server.url}/requests/new/change_quota/?namespace={namespace.name}")
    page.get_by_label(GPU_INPUT).fill(gpus)
    page.get_by_label("Justification").fill(why)
    page.get_by_role("button", name="Send to the approvers").click()
    page.wait_for_url("**/requests/*/")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def test_a_lead_asks_for_eight_more_gpus_an_approver_approves_and_the_cluster_follows(
    sign_in, live_server, research, cluster, worker, core, screenshots
):
    lead = sign_in("research-lead")
    lead.screenshot(path=screenshots / "1-dashboard.png", full_page=True)
    lead.goto(f"{live_server.url}/requests/new/change_quota/?namespace={research.name}")
    lead.get_by_label(GPU_INPUT).fill("16")
    lead.get_by_label("Justification").fill("ICML deadline: 8 more GPUs for three weeks.")
    lead.locator("tr.changed", has_text="requests.nvidia.com/gpu").wait_for()
    lead.screenshot(path=screenshots / "2-request-form.png", full_page=True)
    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_url("**/requests/*/")
    request_id = int(lead.url.rstrip("/").rsplit("/", 1)[1])
    assert "Pending" in lead.locator("#state").inner_text()

    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/queue/")
    row = approver.locator(f"#request-{request_id}")
    assert "guaranteed GPUs 24 → 32" in row.locator(".impact").inner_text()
    row.locator(".dry-run", has_text="Dry run").wait_for()
    approver.screenshot(path=screenshots / "3-approval-queue.png", full_page=True)
    open_decision(row)
    row.get_by_role("button", name="Approve").click()
    row.locator(".badge.state-applied").wait_for(timeout=60_000)

    quota = core.read_namespaced_resource_quota("ml-research-quota", research.name)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "16"
    wait_until(
        lambda: core.read_namespaced_resource_quota("ml-research-quota", research.name).status.hard,
        timeout=60,
        what="the quota controller to report the new quota",
    )
    sync_usage(cluster)
    lead.goto(f"{live_server.url}/teams/")
    card = lead.locator("section.card", has_text=research.name)
    gpu_row = card.locator("tr", has_text="requests.nvidia.com/gpu").first
    assert gpu_row.locator("td").nth(1).inner_text() == "16"
    lead.screenshot(path=screenshots / "4-dashboard-after.png", full_page=True)
    assert Request.objects.get(pk=request_id).state == Request.State.APPLIED


def test_a_rejected_request_shows_the_approvers_note_to_the_lead(sign_in, live_server, research, screenshots):
    lead = sign_in("research-lead")
    request_id = ask_for_more_gpus(lead, live_server, research, "12", "A bigger sweep.")

    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/queue/")
    row = approver.locator(f"#request-{request_id}")
    open_decision(row)
    row.get_by_label("Why reject (required)").fill("Use ml-experiments for sweeps.")
    row.get_by_role("button", name="Reject").click()
    row.get_by_text(f"Request #{request_id} rejected.").wait_for()

    lead.goto(f"{live_server.url}/requests/{request_id}/")
    lead.screenshot(path=screenshots / "5-rejected.png", full_page=True)
    assert "Rejected" in lead.locator("#state").inner_text()
    assert "Use ml-experiments for sweeps." in lead.content()


def test_bad_input_shows_field_errors_as_you_type_and_on_submit_and_stores_nothing(
    sign_in, live_server, research, screenshots
):
    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/requests/new/change_quota/?namespace={research.name}")

    lead.get_by_label("CPU requests (requests.cpu)").fill("lots")
    live_error = lead.locator("#f-quota-0-requests-cpu-error .error")
    live_error.wait_for()
    lead.screenshot(path=screenshots / "6-live-validation.png", full_page=True)
    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_load_state()

    assert "is not a quantity" in live_error.inner_text()
    assert "Say why the team needs this" in lead.locator("#f-justification-error").inner_text()
    assert lead.get_by_label("CPU requests (requests.cpu)").get_attribute("aria-invalid") == "true"
    assert Request.objects.count() == 0


def test_the_namespace_page_answers_would_this_fit(sign_in, live_server, research):
    page = sign_in("research-member")
    page.goto(f"{live_server.url}/namespaces/{research.name}/")

    page.get_by_label("GPUs per pod").fill("9")
    page.get_by_role("button", name="Check").click()

    answer = page.locator("#fit-answer")
    answer.get_by_text("It would not fit.").wait_for()
    assert "nvidia.com/gpu: 9 per container is above the LimitRange max of 8." in answer.inner_text()
