"""Usage follows the database in the background: no reload, and a half-typed form keeps its text."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from teams import workflow
from tests.clusters import connect
from tests.requests import ask_for_gpus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GPU = "requests.nvidia.com/gpu"


def gpu_used_cell(page):
    return page.locator(".usage-live tr", has_text=GPU).first.locator("td").first


def test_usage_and_the_queue_header_refresh_without_reload_and_keep_typed_input(world, sign_in, live_server, settings):
    settings.PROVISIONING_SYNC_INTERVAL = 1
    connect("local", is_default=True)
    namespace = world.namespace("ml-research")
    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/namespaces/ml-research/")
    assert gpu_used_cell(lead).inner_text() == "unknown"
    lead.evaluate("window.notReloaded = true")
    lead.get_by_label("CPU request per pod").fill("50")  # half-typed: 500m was meant

    namespace.observed_quotas = {
        "ml-research-quota": {"hard": {GPU: "8"}, "used": {GPU: "6"}},
    }
    namespace.save()

    expect(gpu_used_cell(lead)).to_have_text("6", timeout=10_000)
    assert lead.evaluate("window.notReloaded") is True
    assert lead.get_by_label("CPU request per pod").input_value() == "50"

    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/queue/")
    assert "Guaranteed GPUs: 24" in approver.locator("#capacity").inner_text()
    approver.evaluate("window.notReloaded = true")
    workflow.approve_request(ask_for_gpus(world, world.namespace("ml-research"), "12").pk, actor=world.approver)

    expect(approver.locator("#capacity")).to_contain_text("Guaranteed GPUs: 28", timeout=10_000)
    assert approver.evaluate("window.notReloaded") is True


def test_the_cluster_page_follows_a_sync_without_reload(world, sign_in, live_server, settings):
    settings.PROVISIONING_SYNC_INTERVAL = 1
    cluster = connect("local", is_default=True, gpu_capacity=64)
    approver = sign_in("approver")
    approver.goto(f"{live_server.url}/cluster/?sort=name")
    research = approver.locator("table.overview tr", has_text="ml-research")
    assert f"{GPU}: ?/8" in research.inner_text()
    approver.evaluate("window.notReloaded = true")

    # What a sync writes: the namespace's observed quota (6 of 8 GPUs used) and the nodes' capacity.
    namespace = world.namespace("ml-research")
    namespace.observed_quotas = {"ml-research-quota": {"hard": {GPU: "8"}, "used": {GPU: "6"}}}
    namespace.save()
    cluster.connection.gpu_capacity = 56
    cluster.connection.capacity_synced_at = timezone.now()
    cluster.connection.save()

    expect(research).to_contain_text(f"{GPU}: 6/8", timeout=10_000)
    expect(approver.locator("table.clusters .capacity")).to_contain_text("56 on")
    expect(approver.locator(".stats")).to_contain_text("6 GPUs in use")
    assert approver.evaluate("window.notReloaded") is True
