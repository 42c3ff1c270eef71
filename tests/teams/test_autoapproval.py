"""Auto-approval rules: a match approves as the system with its evidence, a near miss waits and says why,
a dry run approves nothing and is scored against the people's decisions."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from teams import autoapproval, workflow
from teams.events import system_actor
from teams.models import AuditEvent, AutoApprovalRule, Request, RuleEvaluation
from tests.clusters import connect
from tests.requests import ask_for_gpus
from tests.usage import roll_up_until, seed_gpu_usage

NOW = datetime(2027, 1, 18, 9, 30, tzinfo=UTC)
State = Request.State
Mode = AutoApprovalRule.Mode


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def capacity(world):
    """The default cluster holds 40 GPUs; the seed guarantees 24 of them (8 research, 16 production)."""
    connect("local", is_default=True, gpu_capacity=40, capacity_synced_at=NOW)


def research_used(world, gpus: str) -> None:
    """ml-research used `gpus` of its 8 guaranteed GPUs every hour of the last eight days, rolled up by now."""
    seed_gpu_usage(world.namespace("ml-research"), NOW - timedelta(days=8), NOW, lambda hour: gpus)
    roll_up_until(NOW)


def rule(**conditions) -> AutoApprovalRule:
    values = {
        "name": "Busy research teams may grow a little",
        "order": 10,
        "mode": Mode.LIVE,
        "kind": Request.Kind.CHANGE_QUOTA,
        "max_more_gpus": 4,
        "min_usage_percent": 80,
        "usage_days": 7,
        "min_headroom_percent": 20,
        **conditions,
    }
    return AutoApprovalRule.objects.create(**values)


def test_a_matching_rule_approves_as_the_system_with_every_measured_value_in_the_audit(world, now, capacity):
    research_used(world, "7")
    matching = rule()

    request = ask_for_gpus(world, world.namespace("ml-research"), "12")

    request.refresh_from_db()
    assert (request.state, request.reviewed_by) == (State.APPROVED, system_actor())
    assert request.decision_note == "Approved by rule Busy research teams may grow a little."
    assert world.namespace("ml-research").guaranteed_gpus == 12
    approval = AuditEvent.objects.get(request=request, verb="request.approved")
    assert approval.actor == system_actor()
    assert approval.after["rule"] == {"id": matching.pk, "name": "Busy research teams may grow a little"}
    assert approval.after["evidence"] == (
        "kind Change quota; 4 GPUs more ≤ 4; usage 87% ≥ 80% over 7 days; headroom after 30% ≥ 20%"
    )
    assert RuleEvaluation.objects.get(request=request).approved is True


def test_a_near_miss_waits_and_the_request_page_names_the_failed_condition(world, now, capacity, sign_in):
    research_used(world, "5")
    rule()
    rule(name="Tiny asks", order=20, max_more_gpus=1, min_usage_percent=None, usage_days=None)

    request = ask_for_gpus(world, world.namespace("ml-research"), "12")

    request.refresh_from_db()
    assert request.state == State.PENDING
    assert not AuditEvent.objects.filter(request=request, verb="request.approved").exists()
    closest = autoapproval.closest(list(request.rule_evaluations.all()))
    assert closest.rule_name == "Busy research teams may grow a little"
    assert [condition["text"] for condition in closest.failed] == ["usage 62% < 80% over 7 days"]
    page = sign_in("research-lead").get(reverse("request-detail", args=[request.pk])).content.decode()
    assert "Closest: rule <strong>Busy research teams may grow a little</strong>, 3 of 4 conditions held" in page
    assert "failed: <strong>usage 62% &lt; 80% over 7 days</strong>" in page
    assert "Tiny asks: no match — kind Change quota; 4 GPUs more &gt; 1; headroom after 30% ≥ 20%" in page


def test_a_dry_run_rule_approves_nothing_and_the_queue_scores_it_against_the_approvers(world, now, capacity, sign_in):
    research_used(world, "7")
    rule(mode=Mode.DRY_RUN)
    namespace = world.namespace("ml-research")

    agreed = ask_for_gpus(world, namespace, "12")
    assert Request.objects.get(pk=agreed.pk).state == State.PENDING
    assert RuleEvaluation.objects.get(request=agreed).matched is True
    workflow.approve_request(agreed.pk, actor=world.approver)
    disagreed = ask_for_gpus(world, world.namespace("ml-research"), "16")
    workflow.reject_request(disagreed.pk, actor=world.approver, note="Ask for the paper deadline only.")
    undecided = ask_for_gpus(world, world.namespace("ml-research"), "13")

    assert Request.objects.get(pk=undecided.pk).state == State.PENDING
    assert not AuditEvent.objects.filter(verb="request.approved", actor=system_actor()).exists()
    [score] = autoapproval.agreements()
    assert (score.decided, score.agreed, score.percent) == (2, 1, 50)
    page = sign_in("approver").get(reverse("queue")).content.decode()
    assert "(dry run: records, a person decides): agreed on 1 of 2 requests people decided (50%)" in page


def test_a_rule_approves_a_team_at_most_k_times_a_month(world, now, capacity):
    research_used(world, "7")
    rule(max_more_gpus=None, min_headroom_percent=None, max_per_team_per_month=1)

    first = ask_for_gpus(world, world.namespace("ml-research"), "9")
    second = ask_for_gpus(world, world.namespace("ml-research"), "10")

    assert Request.objects.get(pk=first.pk).state == State.APPROVED
    assert Request.objects.get(pk=second.pk).state == State.PENDING
    [failed] = RuleEvaluation.objects.get(request=second).failed
    assert failed["text"] == "1 auto-approval for research in January, the most is 1"


def test_unknown_usage_and_capacity_hold_no_condition(world, now):
    rule()

    request = ask_for_gpus(world, world.namespace("ml-research"), "12")

    assert Request.objects.get(pk=request.pk).state == State.PENDING
    assert [condition["text"] for condition in RuleEvaluation.objects.get(request=request).failed] == [
        "usage unknown over 7 days: nothing rolled up",
        "headroom unknown: capacity not synced yet",
    ]


def test_a_rule_that_is_off_is_not_weighed(world, now, capacity):
    research_used(world, "7")
    rule(mode=Mode.OFF)

    request = ask_for_gpus(world, world.namespace("ml-research"), "12")

    assert Request.objects.get(pk=request.pk).state == State.PENDING
    assert not RuleEvaluation.objects.exists()


def test_grant_duration_holds_for_a_request_for_good_and_is_measured_for_a_time_boxed_one(world, now, capacity):
    research_used(world, "7")
    limited = rule(max_more_gpus=None, min_headroom_percent=None, max_grant_days=14)
    request = ask_for_gpus(world, world.namespace("ml-research"), "12")
    assert Request.objects.get(pk=request.pk).state == State.APPROVED
    assert RuleEvaluation.objects.get(request=request).conditions[-1]["text"] == (
        "no end date: grant duration not limited"
    )

    asked = Request(team=world.research, cluster=world.namespace("ml-research").cluster, kind=Request.Kind.CHANGE_QUOTA)
    asked.until = (NOW + timedelta(days=20)).date()  # what a time-boxed grant carries: its last day
    [*_, duration] = autoapproval.measure(limited, autoapproval.Measurements(asked, NOW))

    assert (duration.held, duration.text) == (False, "grant 21 days > 14")
