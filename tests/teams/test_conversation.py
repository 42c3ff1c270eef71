"""Talking about a request: comments, "changes requested" and resubmission, and grants of part of an ask."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from teams import conversation, workflow
from teams.models import AuditEvent, Comment, Request
from teams.policy import PolicyError
from tests.requests import ask_for_gpus

State = Request.State
GPU = "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]"


@pytest.fixture
def asked(world) -> Request:
    """research-lead asks for 16 guaranteed GPUs where ml-research has 8."""
    return ask_for_gpus(world, world.namespace("ml-research"), "16")


def send_back(world, request: Request) -> Request:
    return workflow.request_changes(request.pk, actor=world.approver, note="12 instead of 16?")


def resubmit_with(world, request: Request, gpus: str, justification: str = "12 is enough until March.") -> Request:
    quotas = [dict(quota, hard=dict(quota["hard"])) for quota in world.namespace("ml-research").quotas]
    quotas[0]["hard"]["requests.nvidia.com/gpu"] = gpus
    return workflow.resubmit_request(
        request.pk, actor=world.research_lead, proposed={"quotas": quotas}, justification=justification
    )


def gpu_hard(world) -> str:
    return world.namespace("ml-research").quotas[0]["hard"]["requests.nvidia.com/gpu"]


def test_asking_for_changes_opens_the_conversation_with_the_note_and_one_audit_row(world, asked):
    events_before = AuditEvent.objects.count()

    send_back(world, asked)

    asked.refresh_from_db()
    assert asked.state == State.CHANGES_REQUESTED
    assert [(c.author, c.body, c.revision) for c in asked.comments.all()] == [(world.approver, "12 instead of 16?", 1)]
    assert AuditEvent.objects.count() == events_before + 1
    assert AuditEvent.objects.latest("pk").after == {"state": "changes_requested", "note": "12 instead of 16?"}


def test_asking_for_changes_needs_a_note_and_is_never_ones_own(world, asked):
    with pytest.raises(ValidationError) as raised:
        workflow.request_changes(asked.pk, actor=world.approver, note=" ")
    assert raised.value.message_dict == {"note": ["Say what to change; the requester reads it."]}

    world.research_lead.is_staff = True
    world.research_lead.save()
    world.research_lead.groups.add(world.approver.groups.get())
    with pytest.raises(PermissionDenied, match="Nobody decides their own request"):
        workflow.request_changes(asked.pk, actor=world.research_lead, note="Fine by me")
    asked.refresh_from_db()
    assert (asked.state, asked.comments.count()) == (State.PENDING, 0)


def test_a_resubmitted_request_keeps_its_number_and_first_version_and_shows_what_changed_since(world, asked):
    send_back(world, asked)

    resubmitted = resubmit_with(world, asked, "12")

    assert (resubmitted.pk, resubmitted.state, resubmitted.revision) == (asked.pk, State.PENDING, 2)
    assert [(row["current"], row["proposed"]) for row in resubmitted.changes] == [("8", "12")]
    assert [(row["current"], row["proposed"]) for row in resubmitted.first_changes] == [("8", "16")]
    event = AuditEvent.objects.latest("pk")
    assert (event.verb, event.before["revision"], event.after["revision"]) == ("request.resubmitted", 1, 2)


def test_a_resubmission_is_checked_by_the_policy_and_refused_whole(world, asked):
    send_back(world, asked)

    with pytest.raises(PolicyError) as raised:
        resubmit_with(world, asked, "-3")

    assert GPU in raised.value.message_dict
    asked.refresh_from_db()
    assert (asked.state, asked.revision, asked.proposed_spec["quotas"][0]["hard"]["requests.nvidia.com/gpu"]) == (
        State.CHANGES_REQUESTED,
        1,
        "16",
    )


def test_sending_the_same_version_again_is_refused(world, asked):
    send_back(world, asked)

    with pytest.raises(ValidationError, match="asks for the same as the last one"):
        resubmit_with(world, asked, "16", justification=asked.justification)


@pytest.mark.parametrize("who", ["approver", "research_member", "platform_lead"])
def test_only_the_requester_resubmits(world, asked, who):
    send_back(world, asked)

    with pytest.raises(PermissionDenied, match="Only the requester"):
        workflow.resubmit_request(
            asked.pk, actor=getattr(world, who), proposed=asked.proposed_spec, justification="mine now"
        )


def test_an_approver_grants_part_of_an_ask_and_the_namespace_gets_the_grant(world, asked):
    approved = workflow.approve_request(asked.pk, actor=world.approver, granted={GPU: "12"})

    assert gpu_hard(world) == "12"
    assert [(row["current"], row["proposed"]) for row in approved.changes] == [("8", "16")]
    assert [(row["current"], row["proposed"]) for row in approved.granted_changes] == [("8", "12")]
    assert [(row["proposed"], row["granted"]) for row in approved.grant_rows] == [("16", "12")]
    event = AuditEvent.objects.latest("pk")
    assert event.verb == "request.approved"
    assert event.after["granted"] == approved.granted_changes
    assert event.after["capacity"]["guaranteed_after"] - event.after["capacity"]["guaranteed_now"] == 4


def test_granting_all_of_it_is_a_plain_approval(world, asked):
    approved = workflow.approve_request(asked.pk, actor=world.approver, granted={GPU: "16"})

    assert (approved.granted_less, approved.granted_spec, gpu_hard(world)) == (False, {}, "16")


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ({GPU: "20"}, "Grant between 8 and 16"),
        ({GPU: "4"}, "Grant between 8 and 16"),
        ({GPU: "twelve"}, "quantity"),
        ({"quotas[ml-research-quota].hard[pods]": "10"}, "Only an amount this request changes"),
        ({"tier": "best-effort"}, "Only an amount this request changes"),
    ],
)
def test_a_grant_outside_what_was_asked_is_refused_and_nothing_changes(world, asked, amounts, message):
    events_before = AuditEvent.objects.count()

    with pytest.raises(ValidationError) as raised:
        workflow.approve_request(asked.pk, actor=world.approver, granted=amounts)

    assert message in " ".join(raised.value.message_dict[next(iter(amounts))])
    asked.refresh_from_db()
    assert (asked.state, asked.granted_spec, gpu_hard(world)) == (State.PENDING, {}, "8")
    assert AuditEvent.objects.count() == events_before


def test_granting_the_current_amount_of_every_change_is_no_approval(world, asked):
    with pytest.raises(PolicyError):
        workflow.approve_request(asked.pk, actor=world.approver, granted={GPU: "8"})
    assert gpu_hard(world) == "8"


@pytest.mark.parametrize("who", ["research_lead", "research_member", "approver"])
def test_the_team_and_the_approvers_comment_and_each_comment_is_audited(world, asked, who):
    events_before = AuditEvent.objects.count()

    comment = conversation.add_comment(asked, actor=getattr(world, who), body="  Is 12 enough?  ")

    assert (comment.body, comment.revision) == ("Is 12 enough?", 1)
    event = AuditEvent.objects.latest("pk")
    assert AuditEvent.objects.count() == events_before + 1
    assert (event.verb, event.actor, event.after["body"]) == ("request.commented", getattr(world, who), "Is 12 enough?")


@pytest.mark.parametrize("who", ["platform_lead", "finance"])
def test_others_take_no_part_in_a_teams_conversation(world, asked, who):
    with pytest.raises(PermissionDenied):
        conversation.add_comment(asked, actor=getattr(world, who), body="hello")
    assert Comment.objects.count() == 0


@pytest.mark.parametrize("body", ["", "   ", "x" * 2001, "nul\x00byte"])
def test_an_empty_or_unstorable_comment_is_refused(world, asked, body):
    with pytest.raises(ValidationError):
        conversation.add_comment(asked, actor=world.research_lead, body=body)
    assert Comment.objects.count() == 0


# Pages


def signed_in(client, username: str):
    client.force_login(get_user_model().objects.get(username=username))
    return client


def test_the_requester_sees_the_request_for_changes_and_a_form_filled_with_the_last_version(world, asked, client):
    send_back(world, asked)
    signed_in(client, "research-lead")

    page = client.get(reverse("request-detail", args=[asked.pk])).content.decode()
    form = client.get(reverse("request-edit", args=[asked.pk])).content.decode()
    dashboard = client.get(reverse("dashboard")).content.decode()

    assert "Changes requested" in page
    assert "12 instead of 16?" in page
    assert reverse("request-edit", args=[asked.pk]) in page
    assert "Approvers asked you for changes" in dashboard
    member_dashboard = signed_in(client, "research-member").get(reverse("dashboard")).content.decode()
    assert "Approvers asked you for changes" not in member_dashboard
    assert 'name="quota|0|requests.nvidia.com/gpu"' in form
    assert 'value="16"' in form
    assert asked.justification in form


def test_posting_the_changed_form_sends_version_two_and_the_queue_shows_what_changed(world, asked, client):
    send_back(world, asked)
    signed_in(client, "research-lead")
    form = client.get(reverse("request-edit", args=[asked.pk])).context["form"]
    data = {item.name: item.value for item in form.inputs()}
    data.update({"namespace": "ml-research", "quota|0|requests.nvidia.com/gpu": "12"})

    response = client.post(reverse("request-edit", args=[asked.pk]), data)

    assert response.status_code == 302
    asked.refresh_from_db()
    assert (asked.state, asked.revision) == (State.PENDING, 2)
    queue = signed_in(client, "approver").get(reverse("queue")).content.decode()
    assert "Version 2, changed since the first" in queue
    assert "16 → <strong>12</strong>" in queue


def test_nobody_but_the_requester_opens_the_change_form(world, asked, client):
    send_back(world, asked)

    assert signed_in(client, "research-member").get(reverse("request-edit", args=[asked.pk])).status_code == 403
    assert signed_in(client, "platform-lead").get(reverse("request-edit", args=[asked.pk])).status_code == 404


def test_the_approve_form_grants_part_and_the_requester_sees_asked_and_granted(world, asked, client):
    signed_in(client, "approver")

    client.post(reverse("request-approve", args=[asked.pk]), {f"grant|{GPU}": "12", "note": "12 for now"})

    assert gpu_hard(world) == "12"
    page = signed_in(client, "research-lead").get(reverse("request-detail", args=[asked.pk])).content.decode()
    assert "Granted less than asked" in page
    assert '<td class="num">16</td><td class="num"><strong>12</strong></td>' in page


def test_a_comment_posted_on_the_page_appears_in_the_conversation(world, asked, client):
    signed_in(client, "research-member")

    response = client.post(reverse("request-comment", args=[asked.pk]), {"body": "We run 10 jobs at once."})

    assert response.status_code == 302
    assert response.url.endswith("#conversation")
    page = client.get(reverse("request-detail", args=[asked.pk])).content.decode()
    assert "We run 10 jobs at once." in page
