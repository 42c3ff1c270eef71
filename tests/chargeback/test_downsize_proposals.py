"""Downsize proposals: a fortnight of idle guaranteed GPUs, read from the rollups, becomes one proposal with its
numbers; the team's leads accept or decline it, and a decline keeps the namespace quiet for a while."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from chargeback.idle import propose_downsizes
from teams import workflow
from teams.events import system_actor
from teams.models import AuditEvent, DownsizeProposal, GpuTier, Request
from tests.usage import roll_up_until, seed_gpu_usage

NOW = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
#: The hour of the fortnight at which ml-research used most: 3 of its 8 guaranteed GPUs.
PEAK = NOW - timedelta(days=5, hours=7)
State = Request.State


def idle_fortnight(hour: datetime) -> str:
    """2 GPUs used of 8 every hour, and 3 in the one peak hour."""
    return "3" if hour == PEAK else "2"


@pytest.fixture
def idle(world, time_machine):
    """ml-research used at most 3 of its 8 guaranteed GPUs for 15 days, rolled up by NOW."""
    time_machine.move_to(NOW, tick=False)
    seed_gpu_usage(world.namespace("ml-research"), NOW - timedelta(days=15), NOW, idle_fortnight)
    roll_up_until(NOW)
    return world


def test_a_fortnight_of_idle_guaranteed_gpus_produces_exactly_one_proposal_with_its_numbers(idle):
    proposed = propose_downsizes(NOW)
    again = propose_downsizes(NOW + timedelta(days=1))

    assert again == []
    [request] = Request.objects.filter(pk__in=proposed)
    proposal = request.downsize
    # The window: 14 days up to the last rolled-up hour (05:00, the rollup waits for the hour to settle).
    assert (proposal.window_start, proposal.window_end) == (
        datetime(2027, 2, 15, 5, tzinfo=UTC),
        datetime(2027, 3, 1, 5, tzinfo=UTC),
    )
    assert (proposal.guaranteed_gpus, proposal.peak_used_gpus, proposal.proposed_gpus) == (8, Decimal("3.000"), 4)
    # 336 hours of 8 reserved GPUs: 335 hours used 2 of them, the peak hour 3 -> 6 x 335 + 5 = 2,015 idle GPU-hours,
    # at high-priority's 2.40 a reserved GPU-hour.
    assert (proposal.idle_gpu_hours, proposal.idle_cost) == (Decimal("2015.000"), Decimal("4836.00"))
    assert (request.kind, request.state, request.requested_by) == (
        Request.Kind.DOWNSIZE_QUOTA,
        State.PENDING,
        system_actor(),
    )
    assert request.namespace_name == "ml-research"
    assert request.proposed_spec["quotas"][0]["hard"]["requests.nvidia.com/gpu"] == "4"
    # The LimitRange's container GPU max follows the quota down, or the policy would refuse pods of 8 GPUs.
    assert [(row["field"], row["current"], row["proposed"]) for row in request.changes] == [
        ("quotas[ml-research-quota].hard[requests.nvidia.com/gpu]", "8", "4"),
        ("limitRange.limits[Container].max[nvidia.com/gpu]", "8", "4"),
    ]
    assert "2,015.0 reserved GPU-hours sat idle, costing 4,836.00 USD" in request.justification
    submitted = AuditEvent.objects.get(request=request, verb="request.submitted")
    assert (submitted.actor, submitted.after["idle_gpu_hours"]) == (system_actor(), "2015.000")


def test_a_declined_proposal_is_not_proposed_again_within_its_quiet_period(idle, settings):
    settings.DOWNSIZE_QUIET_DAYS = 30
    [first] = propose_downsizes(NOW)

    with pytest.raises(ValidationError) as refused:
        workflow.decline_proposal(first, actor=idle.research_lead, note="  ")
    workflow.decline_proposal(first, actor=idle.research_lead, note="The March training run needs all eight.")

    assert Request.objects.get(pk=first).state == State.REJECTED
    assert refused.value.message_dict == {"note": ["Say why the team keeps these GPUs; approvers read it."]}
    assert DownsizeProposal.objects.get(request_id=first).declined_at == NOW
    assert propose_downsizes(NOW + timedelta(days=29)) == []
    [second] = propose_downsizes(NOW + timedelta(days=31))
    assert second != first


def test_only_the_teams_leads_answer_a_proposal(idle):
    [proposal] = propose_downsizes(NOW)

    with pytest.raises(PermissionDenied):
        workflow.accept_proposal(proposal, actor=idle.research_member)
    with pytest.raises(PermissionDenied):
        workflow.decline_proposal(proposal, actor=idle.platform_lead, note="Not ours.")
    assert Request.objects.get(pk=proposal).state == State.PENDING


def test_a_tier_that_opts_out_is_never_proposed_to(idle):
    GpuTier.objects.filter(slug="high-priority").update(proposes_downsizes=False)

    assert propose_downsizes(NOW) == []


def test_a_busy_namespace_is_not_proposed_to(world, time_machine):
    time_machine.move_to(NOW, tick=False)
    seed_gpu_usage(world.namespace("ml-research"), NOW - timedelta(days=15), NOW, lambda hour: "4")
    roll_up_until(NOW)

    assert propose_downsizes(NOW) == []


def test_a_team_lead_cannot_submit_a_downsize_proposal(world):
    namespace = world.namespace("ml-research")

    with pytest.raises(ValidationError) as refused:
        workflow.submit_request(
            actor=world.research_lead,
            team=world.research,
            kind=Request.Kind.DOWNSIZE_QUOTA,
            namespace=namespace,
            proposed={"quotas": namespace.quotas},
            justification="Fewer.",
        )

    assert list(refused.value.message_dict) == ["kind"]


def test_leads_answer_on_the_request_page_and_approvers_see_the_gpus_freed_in_the_queue(idle, sign_in):
    [proposal] = propose_downsizes(NOW)

    queue = sign_in("approver").get(reverse("queue")).content.decode()
    page = sign_in("research-lead").get(reverse("request-detail", args=[proposal])).content.decode()
    declined = sign_in("research-lead").post(reverse("proposal-decline", args=[proposal]), {"note": ""})

    assert (
        "Proposed by the portal: frees <strong>4 GPUs</strong> (2015.000 idle reserved GPU-hours, 4836.00 USD)" in queue
    )
    assert "Downsize proposal: frees 4 GPUs" in page
    assert f'action="/requests/{proposal}/decline/"' in page
    assert declined.status_code == 302
    assert Request.objects.get(pk=proposal).state == State.PENDING
