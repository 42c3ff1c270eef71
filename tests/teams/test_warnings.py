"""Fewer, sharper warnings: each once, and what a request introduces apart from what was already so."""

import copy

from django.urls import reverse

from teams import workflow
from teams.models import Request
from teams.policy import PolicyReport, check_request
from tests.requests import ask_for_gpus

UNENFORCED = "Kubernetes never counts or enforces limits.nvidia.com/gpu"
GPU_LIMIT_FIELD = "quotas[ml-research-quota].hard[limits.nvidia.com/gpu]"


def test_the_same_warning_reached_twice_is_kept_once():
    report = PolicyReport()
    report.warn("quotas[a].hard[pods]", "Same words.", "code")
    report.warn("quotas[a].hard[pods]", "Same words.", "code")

    assert len(report.warnings) == 1


def test_a_warning_the_namespace_already_earned_is_marked_already(world):
    request = ask_for_gpus(world, world.namespace("ml-research"), "12")

    assert [(w["field"], w["code"], w["already"]) for w in request.warnings] == [
        (GPU_LIMIT_FIELD, "gpu_limit_not_enforced", True)
    ]
    assert request.new_warnings == []


def test_a_warning_the_request_introduces_is_not_already(world):
    namespace = world.namespace("ml-research")
    quotas = copy.deepcopy(namespace.quotas)
    del quotas[0]["hard"]["limits.nvidia.com/gpu"]
    namespace.quotas = quotas
    namespace.save()
    quotas = copy.deepcopy(quotas)
    quotas[0]["hard"]["limits.nvidia.com/gpu"] = "16"

    report = check_request(
        "change_quota",
        team=world.research,
        namespace_name=namespace.name,
        proposed={"quotas": quotas},
        namespace=namespace,
    )

    assert [(f.field, f.code, f.already) for f in report.warnings] == [
        (GPU_LIMIT_FIELD, "gpu_limit_not_enforced", False)
    ]


def test_the_queue_card_shows_only_what_the_request_introduces_and_counts_the_rest(world, sign_in):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")

    page = sign_in("approver").get(reverse("queue")).content.decode()

    card = page[page.index(f'id="request-{pending.pk}"') :].split("</ol>")[0]
    assert '<li class="warning">' not in card
    assert "1 warning already true of the namespace before this request" in card
    assert card.count(UNENFORCED) == 1


def test_the_form_shows_each_warning_once(world, sign_in):
    page = sign_in("research-lead").get(
        reverse("request-new", args=["change_quota"]) + "?cluster=default&namespace=ml-research"
    )

    html = page.content.decode()
    assert html.count(UNENFORCED) == 1
    assert "1 warning already true of the namespace before this request" in html


def test_the_request_page_separates_old_warnings_from_new_ones(world, sign_in):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")
    workflow.cancel_request(pending.pk, actor=world.research_lead)

    html = sign_in("research-lead").get(reverse("request-detail", args=[pending.pk])).content.decode()

    assert "Policy warnings" not in html
    assert html.count(UNENFORCED) == 1
    assert Request.objects.get(pk=pending.pk).state == "cancelled"
