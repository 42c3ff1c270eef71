"""Pages that agree: one guaranteed total on the queue and the cluster page, GPUs named per tier."""

from django.urls import reverse
from django.utils import timezone

from teams import workflow
from tests.clusters import connect
from tests.requests import ask_for_gpus


def guaranteed_on_pages(client) -> tuple[str, str]:
    queue = client.get(reverse("queue")).content.decode()
    overview = client.get(reverse("cluster-overview")).content.decode()
    return queue, overview


def test_the_queue_and_the_cluster_page_show_the_same_guaranteed_total_between_syncs(world, sign_in):
    # The last capacity sync stored 24; an apply since then raised ml-research from 8 to 12.
    connect("local", is_default=True, gpu_capacity=30, guaranteed_gpus=24, capacity_synced_at=timezone.now())
    asked = ask_for_gpus(world, world.namespace("ml-research"), "12")
    workflow.approve_request(asked.pk, actor=world.approver)
    client = sign_in("approver")

    queue, overview = guaranteed_on_pages(client)

    assert "Guaranteed GPUs: <strong>28</strong> of" in queue
    assert '<span class="stat">28</span> guaranteed' in overview
    assert '<span class="stat">24</span> guaranteed' not in overview


def test_the_cluster_page_flags_a_guarantee_beyond_capacity_like_the_queue(world, sign_in):
    connect("local", is_default=True, gpu_capacity=20, guaranteed_gpus=0, capacity_synced_at=timezone.now())

    _, overview = guaranteed_on_pages(sign_in("approver"))

    assert '<p class="over"><span class="stat">24</span> guaranteed</p>' in overview


def test_a_best_effort_namespace_calls_its_gpus_preemptible_not_guaranteed(world, sign_in):
    client = sign_in("approver")

    best_effort = client.get(reverse("usage-chart", args=["ml-experiments"])).content.decode()
    guaranteed = client.get(reverse("usage-chart", args=["ml-research"])).content.decode()

    assert "Preemptible GPUs since " in best_effort
    assert "Guaranteed GPUs" not in best_effort
    assert "Guaranteed GPUs since " in guaranteed
