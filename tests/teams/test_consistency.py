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
    # The last capacity sync was before an apply raised ml-research from 8 to 12.
    connect("local", is_default=True, gpu_capacity=30, capacity_synced_at=timezone.now())
    asked = ask_for_gpus(world, world.namespace("ml-research"), "12")
    workflow.approve_request(asked.pk, actor=world.approver)
    client = sign_in("approver")

    queue, overview = guaranteed_on_pages(client)

    assert "Guaranteed GPUs: <strong>28</strong> of" in queue
    assert '<td class="num guaranteed">28</td>' in overview


def test_the_cluster_page_flags_a_guarantee_beyond_capacity_like_the_queue(world, sign_in):
    connect("local", is_default=True, gpu_capacity=20, capacity_synced_at=timezone.now())

    queue, overview = guaranteed_on_pages(sign_in("approver"))

    assert '<td class="num guaranteed">24 <strong>overcommitted</strong></td>' in overview
    assert '<p class="over">Guaranteed GPUs: <strong>24</strong> of' in queue


def test_a_best_effort_namespace_calls_its_gpus_preemptible_not_guaranteed(world, sign_in):
    client = sign_in("approver")

    best_effort = client.get(reverse("usage-chart", args=["default", "ml-experiments"])).content.decode()
    guaranteed = client.get(reverse("usage-chart", args=["default", "ml-research"])).content.decode()

    assert "Preemptible GPUs since " in best_effort
    assert "Guaranteed GPUs" not in best_effort
    assert "Guaranteed GPUs since " in guaranteed
