"""The inbox, the choices of what reaches a person, webhooks, and the token notices."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.actions import create_api_token
from notifications import delivery
from notifications.models import Notification, Preference, Webhook
from notifications.tasks import announce_expiring_tokens
from teams.models import AuditEvent
from tests.requests import ask_for_gpus


@pytest.fixture
def told_approver(world):
    ask_for_gpus(world, world.namespace("ml-research"), "16")
    delivery.fan_out(AuditEvent.objects.get(verb="request.submitted").pk)
    return Notification.objects.get(recipient=world.approver)


def test_the_header_counts_unread_notifications_and_opening_one_reads_it(world, told_approver, sign_in):
    client = sign_in("approver")

    page = client.get(reverse("notifications")).content.decode()
    opened = client.get(reverse("notification-open", args=[told_approver.pk]))

    assert '1<span class="visually-hidden"> unread</span>' in page
    assert "research-lead asked: request #" in page
    assert opened.url == reverse("request-detail", args=[told_approver.event.request_id])
    assert 'visually-hidden"> unread' not in client.get(reverse("notifications")).content.decode()


def test_mark_all_as_read(world, told_approver, sign_in):
    client = sign_in("approver")

    client.post(reverse("notifications"))

    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_nobody_opens_anothers_notification(world, told_approver, sign_in):
    assert sign_in("research-lead").get(reverse("notification-open", args=[told_approver.pk])).status_code == 404


def test_unticking_a_topic_by_email_is_saved_and_shown(world, sign_in):
    client = sign_in("research-lead")
    ticked = {"requests|portal": "on", "comments|portal": "on", "comments|email": "on"}

    client.post(reverse("notification-preferences"), ticked)

    assert not Preference.objects.get(user=world.research_lead, topic="requests", channel="email").enabled
    assert Preference.objects.get(user=world.research_lead, topic="requests", channel="portal").enabled
    page = client.get(reverse("notification-preferences")).content.decode()
    assert 'id="requests|email" name="requests|email">' in page
    assert 'id="requests|portal" name="requests|portal" checked>' in page


def test_an_approver_adds_a_webhook_sees_its_secret_once_and_it_is_audited(world, sign_in):
    client = sign_in("approver")
    data = {"name": "research alerts", "url": "https://hooks.example/research", "team": world.research.pk}

    response = client.post(reverse("webhooks"), data)
    first = client.get(reverse("webhooks")).content.decode()
    again = client.get(reverse("webhooks")).content.decode()

    hook = Webhook.objects.get()
    assert response.status_code == 302
    assert hook.secret in first
    assert hook.secret not in again
    event = AuditEvent.objects.get(verb="webhook.created")
    assert event.after == {"name": "research alerts", "url": "https://hooks.example/research", "team": "research"}


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "not a url", "https://" + "a" * 600 + ".example"])
def test_a_bad_webhook_address_is_refused_naming_the_field(world, sign_in, url):
    response = sign_in("approver").post(reverse("webhooks"), {"name": "x", "url": url})

    assert response.status_code == 400
    assert 'id="id_url-error"' in response.content.decode()
    assert not Webhook.objects.exists()


def test_only_approvers_manage_webhooks_and_turning_one_off_asks_first(world, sign_in):
    hook = Webhook.objects.create(name="all", url="https://hooks.example/all", created_by=world.approver)

    assert sign_in("research-lead").get(reverse("webhooks")).status_code == 403
    client = sign_in("approver")
    assert "Turn it off" in client.get(reverse("webhook-turn-off", args=[hook.pk])).content.decode()
    client.post(reverse("webhook-turn-off", args=[hook.pk]))
    hook.refresh_from_db()
    assert not hook.is_active
    assert AuditEvent.objects.filter(verb="webhook.turned_off", target=f"webhook:{hook.pk}").count() == 1


def test_a_token_about_to_expire_is_announced_to_its_owner_once(world):
    soon = timezone.now() + timedelta(days=3)
    create_api_token(user=world.research_lead, name="nightly export", read_only=True, expires_at=soon)
    create_api_token(user=world.research_lead, name="far", read_only=True, expires_at=soon + timedelta(days=60))

    assert announce_expiring_tokens() == 1
    assert announce_expiring_tokens() == 0
    event = AuditEvent.objects.get(verb="token.expiring")
    delivery.fan_out(event.pk)
    [note] = Notification.objects.filter(event=event)
    assert note.recipient == world.research_lead
    assert note.text == f"Your API token “nightly export” expires on {soon:%Y-%m-%d}"
    assert note.link == reverse("profile")
