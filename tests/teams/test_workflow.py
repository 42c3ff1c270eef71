"""The request state machine: every legal and illegal transition, and concurrent approvals."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from teams import workflow
from teams.events import event_recorded, system_actor
from teams.models import AuditEvent, Cluster, Request, TeamNamespace
from teams.policy import PolicyError
from tests.clusters import connect
from tests.requests import ask_for_gpus, ask_for_namespace

State = Request.State
Kind = Request.Kind


def bring_to(world, state: str) -> Request:
    """A request that reached `state` through the workflow's own functions."""
    request = ask_for_namespace(world)
    path = {
        State.PENDING: [],
        State.CHANGES_REQUESTED: ["request_changes"],
        State.APPROVED: ["approve"],
        State.REJECTED: ["reject"],
        State.CANCELLED: ["cancel"],
        State.APPLYING: ["approve", "applying"],
        State.APPLIED: ["approve", "applying", "applied"],
        State.FAILED: ["approve", "applying", "failed"],
    }[state]
    for step in path:
        TRANSITIONS[step](world, request.pk)
    request.refresh_from_db()
    assert request.state == state
    return request


TRANSITIONS = {
    "approve": lambda world, pk: workflow.approve_request(pk, actor=world.approver),
    "reject": lambda world, pk: workflow.reject_request(pk, actor=world.approver, note="Use ml-research."),
    "request_changes": lambda world, pk: workflow.request_changes(pk, actor=world.approver, note="Half of it?"),
    "resubmit": lambda world, pk: workflow.resubmit_request(
        pk,
        actor=world.research_lead,
        proposed=Request.objects.get(pk=pk).proposed_spec,
        justification="The vision group, for one quarter.",
        namespace_name="ml-research-2",
    ),
    "cancel": lambda world, pk: workflow.cancel_request(pk, actor=world.research_lead),
    "applying": lambda world, pk: workflow.mark_applying(pk, actor=system_actor()),
    "applied": lambda world, pk: workflow.mark_applied(pk, actor=system_actor()),
    "failed": lambda world, pk: workflow.mark_failed(pk, actor=system_actor(), error="403 Forbidden"),
    "retry": lambda world, pk: workflow.retry_request(pk, actor=world.approver),
}
LEGAL = {
    ("approve", State.PENDING): State.APPROVED,
    ("reject", State.PENDING): State.REJECTED,
    ("cancel", State.PENDING): State.CANCELLED,
    ("request_changes", State.PENDING): State.CHANGES_REQUESTED,
    ("resubmit", State.CHANGES_REQUESTED): State.PENDING,
    ("reject", State.CHANGES_REQUESTED): State.REJECTED,
    ("cancel", State.CHANGES_REQUESTED): State.CANCELLED,
    ("applying", State.APPROVED): State.APPLYING,
    ("applied", State.APPLYING): State.APPLIED,
    ("failed", State.APPLYING): State.FAILED,
    ("retry", State.FAILED): State.APPLYING,
}
VERBS = {
    "approve": "request.approved",
    "reject": "request.rejected",
    "request_changes": "request.changes_requested",
    "resubmit": "request.resubmitted",
    "cancel": "request.cancelled",
    "applying": "request.applying",
    "applied": "request.applied",
    "failed": "request.failed",
    "retry": "request.retried",
}
#: Retrying an applying request is legal once it is stuck: test_a_stuck_applying_request_can_be_retried.
ILLEGAL = [
    (step, state)
    for step in TRANSITIONS
    for state in State
    if (step, state) not in LEGAL and (step, state) != ("retry", State.APPLYING)
]


def test_submitting_stores_a_pending_request_with_its_warnings_and_one_audit_event(world):
    request = ask_for_namespace(world)

    assert request.state == State.PENDING
    assert [w["code"] for w in request.warnings] == ["gpu_limit_not_enforced"]
    event = AuditEvent.objects.get(request=request)
    assert (event.verb, event.actor, event.before, event.after["state"]) == (
        "request.submitted",
        world.research_lead,
        {},
        "pending",
    )


def test_a_request_that_breaks_policy_is_not_stored(world):
    with pytest.raises(PolicyError) as raised:
        workflow.submit_request(
            actor=world.research_lead,
            team=world.research,
            kind=Kind.CREATE_NAMESPACE,
            namespace_name="kube-x",
            proposed={"tier": "high-priority", "quotas": []},
            justification="",
        )

    assert set(raised.value.message_dict) == {"namespace_name", "quotas", "justification"}
    assert Request.objects.count() == 0
    assert AuditEvent.objects.filter(verb="request.submitted").count() == 0


@pytest.mark.parametrize("who", ["research_member", "platform_lead", "approver"])
def test_only_a_lead_of_the_team_can_submit(world, who):
    with pytest.raises(PermissionDenied, match=r"Only a lead of team research can submit its requests\."):
        workflow.submit_request(
            actor=getattr(world, who),
            team=world.research,
            kind=Kind.CREATE_NAMESPACE,
            namespace_name="r2",
            proposed={},
            justification="x",
        )
    assert Request.objects.count() == 0


@pytest.mark.parametrize(("step", "source"), list(LEGAL), ids=lambda value: str(value))
def test_legal_transitions_move_the_state_and_write_exactly_one_audit_event(world, step, source):
    request = bring_to(world, source)
    events_before = AuditEvent.objects.count()

    TRANSITIONS[step](world, request.pk)

    request.refresh_from_db()
    assert request.state == LEGAL[(step, source)]
    assert AuditEvent.objects.count() == events_before + 1
    event = AuditEvent.objects.latest("pk")
    assert (event.verb, event.target, event.before["state"], event.after["state"]) == (
        VERBS[step],
        f"request:{request.pk}",
        source,
        LEGAL[(step, source)],
    )


@pytest.mark.parametrize(("step", "source"), ILLEGAL, ids=lambda value: str(value))
def test_illegal_transitions_are_refused_and_change_nothing(world, step, source):
    request = bring_to(world, source)
    events_before = AuditEvent.objects.count()

    with pytest.raises(workflow.InvalidTransition, match=rf"Request #{request.pk} is {source}; only a"):
        TRANSITIONS[step](world, request.pk)

    request.refresh_from_db()
    assert request.state == source
    assert AuditEvent.objects.count() == events_before


def test_nobody_approves_their_own_request(world):
    world.research_lead.is_staff = True
    world.research_lead.save()
    world.research_lead.groups.add(world.approver.groups.get())
    request = ask_for_namespace(world)

    with pytest.raises(PermissionDenied, match="Nobody can approve their own request"):
        workflow.approve_request(request.pk, actor=world.research_lead)

    request.refresh_from_db()
    assert request.state == State.PENDING


@pytest.mark.parametrize("who", ["research_member", "platform_lead", "finance"])
def test_only_approvers_approve_reject_and_retry(world, who):
    request = ask_for_namespace(world)
    actor = getattr(world, who)

    with pytest.raises(PermissionDenied):
        workflow.approve_request(request.pk, actor=actor)
    with pytest.raises(PermissionDenied):
        workflow.reject_request(request.pk, actor=actor, note="no")
    assert Request.objects.get(pk=request.pk).state == State.PENDING


def test_rejecting_needs_a_note(world):
    request = ask_for_namespace(world)

    with pytest.raises(ValidationError) as raised:
        workflow.reject_request(request.pk, actor=world.approver, note="  ")

    assert raised.value.message_dict == {"note": ["Say why the request is rejected; the requester reads it."]}


def test_only_the_requester_cancels(world):
    request = ask_for_namespace(world)

    with pytest.raises(PermissionDenied, match=r"Only the requester can cancel a request\."):
        workflow.cancel_request(request.pk, actor=world.approver)


def test_approving_a_new_namespace_sets_its_desired_state_and_tells_provisioning_after_commit(
    world, django_capture_on_commit_callbacks
):
    request = ask_for_namespace(world)
    received = []

    def receiver(sender, event, **kwargs):
        received.append((event.verb, event.request_id, event.actor))

    event_recorded.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            workflow.approve_request(request.pk, actor=world.approver, note="Fits the tier.")
        assert received == []  # nothing is told before the commit
        for callback in callbacks:
            callback()
    finally:
        event_recorded.disconnect(receiver)

    assert received == [("request.approved", request.pk, world.approver)]
    assert len(callbacks) == 1
    namespace = TeamNamespace.objects.get(name="ml-research-2")
    request.refresh_from_db()
    assert (request.namespace, request.reviewed_by, request.decision_note) == (
        namespace,
        world.approver,
        "Fits the tier.",
    )
    assert namespace.quotas == world.namespace("ml-research").quotas
    assert namespace.desired_labels == {"team": "research", "cost-center": "rd-001", "gpu-tier": "high-priority"}
    event = AuditEvent.objects.get(request=request, verb="request.approved")
    assert event.after["spec"]["quotas"] == namespace.quotas


def test_approval_merges_only_the_proposed_section(world):
    namespace = world.namespace("ml-research")
    request = ask_for_gpus(world, namespace, "12")

    workflow.approve_request(request.pk, actor=world.approver)

    namespace.refresh_from_db()
    assert namespace.quotas[0]["hard"]["requests.nvidia.com/gpu"] == "12"
    assert namespace.limit_range == world.namespace("ml-research").limit_range
    event = AuditEvent.objects.get(request=request, verb="request.approved")
    assert event.before["spec"]["quotas"][0]["hard"]["requests.nvidia.com/gpu"] == "8"


def test_approval_rechecks_policy_against_the_state_of_the_day(world):
    first = ask_for_namespace(world, "ml-vision")
    workflow.cancel_request(first.pk, actor=world.research_lead)
    second = ask_for_namespace(world, "ml-vision")
    TeamNamespace.objects.create(
        name="ml-vision", cluster=Cluster.objects.get_default(), team=world.platform, tier=world.platform.default_tier
    )

    with pytest.raises(PolicyError) as raised:
        workflow.approve_request(second.pk, actor=world.approver)

    taken = "A namespace named 'ml-vision' already exists on cluster default."
    assert raised.value.message_dict == {"namespace_name": [taken]}
    assert Request.objects.get(pk=second.pk).state == State.PENDING


def test_deleting_marks_the_namespace_then_records_its_removal(world):
    namespace = world.namespace("ml-experiments")
    lead = world.data_science.memberships.get(role="lead").user
    request = workflow.submit_request(
        actor=lead,
        team=world.data_science,
        kind=Kind.DELETE_NAMESPACE,
        namespace=namespace,
        proposed={},
        justification="The sweep is over.",
    )

    workflow.approve_request(request.pk, actor=world.approver)
    namespace.refresh_from_db()
    assert namespace.deletion_requested_at is not None
    assert namespace.deleted_at is None
    workflow.mark_applying(request.pk, actor=system_actor())
    workflow.mark_applied(request.pk, actor=system_actor())

    namespace.refresh_from_db()
    assert namespace.deleted_at is not None
    assert not TeamNamespace.objects.live().filter(name="ml-experiments").exists()


def test_a_failure_keeps_the_api_servers_message_until_a_retry_succeeds(world):
    request = bring_to(world, State.FAILED)
    assert request.last_error == "403 Forbidden"

    workflow.retry_request(request.pk, actor=world.approver)
    workflow.mark_applied(request.pk, actor=system_actor())

    request.refresh_from_db()
    assert (request.state, request.last_error) == (State.APPLIED, "")


def test_a_stuck_applying_request_can_be_retried_and_not_before(world, settings, client):
    request = bring_to(world, State.APPLYING)
    page = reverse("request-detail", args=[request.pk])
    client.force_login(world.approver)

    with pytest.raises(
        workflow.InvalidTransition,
        match=rf"Request #{request.pk} has been applying for \d+ s; it can be retried once it has been applying "
        rf"for {settings.PROVISIONING_STUCK_AFTER} s\.",
    ):
        workflow.retry_request(request.pk, actor=world.approver)
    before = client.get(page)
    Request.objects.filter(pk=request.pk).update(
        updated_at=timezone.now() - timedelta(seconds=settings.PROVISIONING_STUCK_AFTER + 1)
    )
    stuck = client.get(page)
    workflow.retry_request(request.pk, actor=world.approver)

    event = AuditEvent.objects.latest("pk")
    assert (event.verb, event.actor, event.before["state"], event.after["state"]) == (
        "request.retried",
        world.approver,
        State.APPLYING,
        State.APPLYING,
    )
    assert AuditEvent.objects.filter(request=request, verb="request.retried").count() == 1
    assert b"Provisioning has not finished this request since" not in before.content
    assert b"Provisioning has not finished this request since" in stuck.content
    assert reverse("request-retry", args=[request.pk]).encode() in stuck.content


def test_audit_events_cannot_be_changed_or_deleted(world):
    event = AuditEvent.objects.first()

    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.update(verb="x")
    with pytest.raises(TypeError, match="append-only"):
        AuditEvent.objects.all().delete()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL; CI runs this there")
def test_twenty_concurrent_approvals_give_exactly_one_decision(world, second_approver):
    request = ask_for_namespace(world)
    approvers = [world.approver, second_approver] * 10
    barrier = threading.Barrier(len(approvers))
    outcomes: list[str] = []

    def approve(actor) -> None:
        barrier.wait()
        try:
            workflow.approve_request(request.pk, actor=actor)
            outcomes.append("approved")
        except workflow.InvalidTransition:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(actor,)) for actor in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["approved"] + ["refused"] * 19
    assert AuditEvent.objects.filter(request=request, verb="request.approved").count() == 1
    assert TeamNamespace.objects.filter(name="ml-research-2").count() == 1


@pytest.fixture
def small_cluster(world):
    """A cluster of 28 GPUs; the seed already guarantees 24 of them."""
    from django.utils import timezone

    return connect("small", is_default=True, gpu_capacity=28, capacity_synced_at=timezone.now())


def test_an_approval_that_overcommits_guaranteed_gpus_is_refused_without_an_override(world, small_cluster):
    request = ask_for_namespace(world)

    with pytest.raises(workflow.CapacityExceeded) as raised:
        workflow.approve_request(request.pk, actor=world.approver)

    assert str(raised.value) == (
        "Approving would guarantee 32 GPUs on a cluster with 28; confirm the override to approve anyway."
    )
    assert Request.objects.get(pk=request.pk).state == State.PENDING


def test_an_overridden_overcommit_is_approved_and_audited(world, small_cluster):
    request = ask_for_namespace(world)

    workflow.approve_request(request.pk, actor=world.approver, override_capacity=True)

    event = AuditEvent.objects.get(request=request, verb="request.approved")
    assert event.after["capacity"] == {
        "cluster": "small",
        "capacity": 28,
        "guaranteed_now": 24,
        "guaranteed_after": 32,
        "overridden": True,
    }


def test_capacity_is_not_enforced_before_it_was_observed(world):
    request = ask_for_namespace(world)

    workflow.approve_request(request.pk, actor=world.approver)

    event = AuditEvent.objects.get(request=request, verb="request.approved")
    assert event.after["capacity"]["capacity"] is None
