"""Who hears of what, in which inbox and at which address; each at most once."""

import pytest

from notifications import delivery
from notifications.models import Channel, Delivery, Notification, Preference, Topic, Webhook
from teams import conversation, events, workflow
from teams.events import system_actor
from teams.models import AuditEvent
from tests.requests import ask_for_gpus


@pytest.fixture
def asked(world):
    return ask_for_gpus(world, world.namespace("ml-research"), "16")


def told(verb: str) -> tuple[set[str], set[str]]:
    """(inbox recipients, e-mail addresses) after fanning out the latest `verb` event."""
    event = AuditEvent.objects.filter(verb=verb).latest("pk")
    delivery.fan_out(event.pk)
    readers = set(Notification.objects.filter(event=event).values_list("recipient__username", flat=True))
    addresses = set(Delivery.objects.filter(event=event, channel=Channel.EMAIL).values_list("address", flat=True))
    return readers, addresses


def test_a_new_request_reaches_the_approvers_but_not_the_lead_who_sent_it(world, asked):
    readers, addresses = told("request.submitted")

    assert readers == {"approver"}
    assert addresses == {"approver@gpu-portal.example"}


def test_a_decision_reaches_the_requester_and_the_teams_leads_not_the_approver(world, asked):
    workflow.approve_request(asked.pk, actor=world.approver)

    readers, _ = told("request.approved")

    assert readers == {"research-lead"}
    assert "approved request #" in Notification.objects.get(recipient=world.research_lead).text


def test_a_comment_reaches_the_requester_and_the_approvers_who_took_part(world, asked, second_approver):
    workflow.request_changes(asked.pk, actor=world.approver, note="12?")
    conversation.add_comment(asked, actor=world.research_member, body="We run 10 jobs.")

    readers, _ = told("request.commented")

    assert readers == {"research-lead", "approver"}  # not the second approver, who took no part


def test_an_account_no_longer_active_hears_nothing(world, asked):
    workflow.approve_request(asked.pk, actor=world.approver)
    world.research_lead.is_active = False
    world.research_lead.save()

    readers, addresses = told("request.approved")

    assert (readers, addresses) == (set(), set())


def test_a_choice_per_topic_and_channel_is_honoured(world, asked):
    Preference.objects.create(user=world.approver, topic=Topic.REQUESTS, channel=Channel.EMAIL, enabled=False)

    readers, addresses = told("request.submitted")

    assert (readers, addresses) == ({"approver"}, set())


def test_fanning_out_twice_tells_nobody_twice(world, asked):
    event = AuditEvent.objects.get(verb="request.submitted")

    first = delivery.fan_out(event.pk)
    second = delivery.fan_out(event.pk)

    assert first == second
    assert Notification.objects.filter(event=event).count() == 1
    assert Delivery.objects.filter(event=event).count() == 1


def test_a_teams_webhook_hears_its_team_and_the_global_one_hears_every_team(world, asked):
    team_hook = Webhook.objects.create(
        name="research", url="http://h/1", team=world.research, created_by=world.approver
    )
    global_hook = Webhook.objects.create(name="all", url="http://h/2", created_by=world.approver)
    Webhook.objects.create(name="platform", url="http://h/3", team=world.platform, created_by=world.approver)
    Webhook.objects.create(name="off", url="http://h/4", is_active=False, created_by=world.approver)

    told("request.submitted")

    hooks = set(Delivery.objects.filter(channel=Channel.WEBHOOK).values_list("webhook", flat=True))
    assert hooks == {team_hook.pk, global_hook.pk}


def test_progress_is_heard_only_by_those_who_chose_it_and_other_events_by_nobody(world, asked):
    Webhook.objects.create(name="all", url="http://h/2", created_by=world.approver)
    workflow.approve_request(asked.pk, actor=world.approver)
    workflow.mark_applying(asked.pk, actor=system_actor())
    quiet = AuditEvent.objects.get(verb="request.applying")
    assert delivery.fan_out(quiet.pk) == []
    assert not Notification.objects.filter(event=quiet).exists()

    Preference.objects.create(user=world.research_lead, topic=Topic.PROGRESS, channel=Channel.PORTAL, enabled=True)
    workflow.mark_failed(asked.pk, actor=system_actor(), error="403")
    workflow.retry_request(asked.pk, actor=world.approver)
    chosen, _ = told("request.applying")
    retried = AuditEvent.objects.get(verb="request.retried")

    assert chosen == {"research-lead"}
    assert delivery.fan_out(retried.pk) == []
    assert not Delivery.objects.filter(channel=Channel.WEBHOOK, event__verb="request.applying").exists()


def test_a_quota_warning_reaches_the_whole_team_with_its_link_to_ask_for_more(world):
    link = "/requests/new/change_quota/?cluster=default&namespace=ml-research&quota|0|requests.nvidia.com/gpu=10"
    events.record(
        "namespace.quota_warning",
        actor=system_actor(),
        target="namespace:ml-research",
        after={
            "namespace": "ml-research",
            "team": "research",
            "resource": "requests.nvidia.com/gpu",
            "quota": "ml-research-quota",
            "level": 95,
            "used": "8",
            "hard": "8",
            "percent": 100,
            "link": link,
        },
    )

    readers, _ = told("namespace.quota_warning")

    assert readers == {"research-lead", "research-member"}
    note = Notification.objects.get(recipient=world.research_member)
    assert note.text == "ml-research: requests.nvidia.com/gpu at 100% of hard (8 of 8 in ml-research-quota)"
    assert note.link == link
