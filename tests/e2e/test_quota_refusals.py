"""In a real browser: the pods the quota refused, seen by the lead with a pre-filled request, and by the approver."""

import pytest
from kubernetes.client import BatchV1Api

from provisioning import applying
from provisioning.sync import sync_usage
from teams.models import TeamNamespace
from tests.kube import pod_manifest, quota_used, wait_pods_allowed, wait_quota_synced, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

GPU_KEY = "requests.nvidia.com/gpu"


@pytest.fixture
def refused(world, cluster, core, admin_api, unique_name) -> TeamNamespace:
    """ml-research (8 guaranteed GPUs) under a fresh name, where a Job of three 4-GPU pods had one refused."""
    namespace = world.namespace("ml-research")
    namespace.name = unique_name("ml-research")
    namespace.save()
    applying.apply_namespace(namespace)
    wait_quota_synced(core, namespace.name, "ml-research-quota")
    wait_pods_allowed(core, namespace.name)
    pod = pod_manifest("main", gpus=4, priority_class="ml-high")
    pod["spec"]["restartPolicy"] = "Never"
    BatchV1Api(admin_api).create_namespaced_job(
        namespace.name,
        {
            "metadata": {"name": "train"},
            "spec": {"parallelism": 3, "completions": 3, "template": {"spec": pod["spec"]}},
        },
    )
    wait_until(
        lambda: quota_used(core, namespace.name, "ml-research-quota").get(GPU_KEY) == "8",
        timeout=60,
        what="two pods to take the 8 GPUs",
    )
    wait_until(
        lambda: sync_usage(cluster).refusals,
        timeout=60,
        what="the sync to store the Job's refusal",
    )
    return namespace


def test_the_lead_asks_for_more_from_the_refusal_and_the_approver_sees_the_evidence(
    sign_in, live_server, refused, screenshots
):
    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/namespaces/{refused.name}/")
    row = lead.locator("tr.refusal", has_text="Job/train")
    cells = row.locator("td").all_inner_texts()
    assert cells[1:5] == ["Job/train", f"ml-research-quota · {GPU_KEY}", "4", "8 / 8"]
    lead.screenshot(path=screenshots / "refusals-1-namespace.png", full_page=True)

    row.get_by_role("link", name="Ask for 12").click()
    lead.wait_for_url("**/requests/new/change_quota/**")
    assert lead.get_by_label(f"Guaranteed GPUs ({GPU_KEY})").input_value() == "12"
    lead.get_by_label("Justification").fill("The quota refused our training Job: 4 more GPUs for it.")
    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_url("**/requests/*/")
    request_id = int(lead.url.rstrip("/").rsplit("/", 1)[1])

    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/queue/")
    evidence = approver.locator(f"#request-{request_id} .evidence")
    evidence.locator("tr.refusal", has_text="Job/train").wait_for()
    assert evidence.locator("tr.refusal td").all_inner_texts()[1:5] == [
        "Job/train",
        f"ml-research-quota · {GPU_KEY}",
        "4",
        "8 / 8",
    ]
    captions = [" ".join(caption.split()) for caption in evidence.locator("figcaption").all_inner_texts()]
    # Both windows begin at the namespace's first sample, as every usage chart does; the pressed range tells them apart.
    assert [caption.startswith("Guaranteed GPUs since ") and ": 8 used of 8" in caption for caption in captions] == [
        True,
        True,
    ]
    assert evidence.locator('.ranges button[aria-pressed="true"]').all_inner_texts() == ["7d", "30d"]
    approver.screenshot(path=screenshots / "refusals-2-queue.png", full_page=True)
