"""From an event to inbox lines and deliveries, and one delivery to its address.

Fan-out is idempotent (unique rows per recipient and per event, channel and address), and a
delivery is claimed before it is sent, so a task that runs twice (redelivered by the broker,
or retried) sends nothing twice. A worker that dies mid-send leaves its claim, which expires
after a lease; only then is the message sent again, carrying the same delivery id
(`X-GPU-Portal-Delivery`, the e-mail's Message-ID) for the receiver to spot the repeat.
"""

import json
import smtplib
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from notifications import signing
from notifications.models import OFF_BY_DEFAULT, Channel, Delivery, Notification, Preference, Topic, Webhook, chosen
from notifications.routing import Message, audience, message_for
from teams.models import AuditEvent


class TransientFailure(Exception):
    """Worth another attempt: the server was down, busy or slow."""


class PermanentFailure(Exception):
    """Another attempt would fail the same way: a refused address, a 4xx from the receiver."""


#: Topics that speak to one person about their own things; they are not posted to team channels (nor are
#: the topics off by default, which only those who chose them hear).
PERSONAL_TOPICS = {Topic.TOKENS}


def fan_out(event_id: int) -> list[int]:
    """Write the inbox lines and deliveries of an event; return the ids of deliveries still to send."""
    event = AuditEvent.objects.select_related("actor", "request__requested_by").get(pk=event_id)
    message = message_for(event)
    if message is None:
        return []
    people = audience(event, message)
    wanted = _preferences(people, message.topic)
    readers = [user for user in people if chosen(message.topic, wanted, (user.pk, Channel.PORTAL))]
    Notification.objects.bulk_create(
        [
            Notification(recipient=user, event=event, topic=message.topic, text=message.text, link=message.link)
            for user in readers
        ],
        ignore_conflicts=True,
    )
    addresses = {
        user.email.strip().lower()
        for user in people
        if user.email.strip() and chosen(message.topic, wanted, (user.pk, Channel.EMAIL))
    }
    deliveries = [Delivery(event=event, channel=Channel.EMAIL, address=address) for address in sorted(addresses)]
    deliveries += [
        Delivery(event=event, channel=Channel.WEBHOOK, address=f"webhook:{hook.pk}", webhook=hook)
        for hook in _webhooks(message)
    ]
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return list(Delivery.objects.filter(event=event, state=Delivery.State.PENDING).values_list("pk", flat=True))


def _preferences(people: set, topic: str) -> dict[tuple[int, str], bool]:
    """(user id, channel) -> enabled, for `topic`; what is absent takes the topic's default."""
    rows = Preference.objects.filter(user__in=people, topic=topic)
    return {(user_id, channel): enabled for user_id, channel, enabled in rows.values_list("user", "channel", "enabled")}


def _webhooks(message: Message) -> list[Webhook]:
    if message.topic in PERSONAL_TOPICS or message.topic in OFF_BY_DEFAULT:
        return []
    heard_by = Q(team__isnull=True) | Q(team_id=message.team_id) if message.team_id else Q(team__isnull=True)
    return list(Webhook.objects.filter(heard_by, is_active=True))


def claim(delivery_id: int) -> Delivery | None:
    """Take the delivery for one attempt, or None if it was sent, failed, or another worker holds it."""
    now = timezone.now()
    lease = timedelta(seconds=4 * settings.NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS + settings.EMAIL_TIMEOUT + 60)
    claimable = Q(state=Delivery.State.PENDING) | Q(state=Delivery.State.SENDING, claimed_at__lt=now - lease)
    taken = Delivery.objects.filter(claimable, pk=delivery_id).update(
        state=Delivery.State.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not taken:
        return None
    return Delivery.objects.select_related("event__actor", "event__request__requested_by", "webhook").get(
        pk=delivery_id
    )


def settle(delivery: Delivery, state: str, error: str = "") -> None:
    sent_at = timezone.now() if state == Delivery.State.SENT else None
    Delivery.objects.filter(pk=delivery.pk).update(state=state, last_error=error[:2000], sent_at=sent_at)


def send(delivery: Delivery) -> None:
    """One attempt; raises TransientFailure or PermanentFailure."""
    message = message_for(delivery.event)
    if message is None:  # the rules changed since the fan-out: nothing to say any more
        return
    if delivery.channel == Channel.EMAIL:
        _send_email(delivery, message)
    else:
        _send_webhook(delivery, message)


def absolute(link: str) -> str:
    return f"{settings.PORTAL_URL}{link}" if link else settings.PORTAL_URL


def _send_email(delivery: Delivery, message: Message) -> None:
    context = {"message": message, "url": absolute(message.link), "settings_url": absolute("/notifications/settings/")}
    subject = f"[GPU Quota Portal] {message.text}"
    email = EmailMultiAlternatives(
        subject=subject if len(subject) <= 150 else subject[:149] + "…",
        body=render_to_string("notifications/email.txt", context),
        to=[delivery.address],
        headers={"Message-ID": f"<delivery-{delivery.pk}@gpu-portal>", "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(render_to_string("notifications/email.html", context), "text/html")
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise (TransientFailure if all(400 <= code < 500 for code in codes) else PermanentFailure)(str(error)) from None
    except smtplib.SMTPResponseException as error:
        raise (TransientFailure if 400 <= error.smtp_code < 500 else PermanentFailure)(str(error)) from None
    except (smtplib.SMTPException, OSError) as error:
        raise TransientFailure(f"{type(error).__name__}: {error}") from None


def webhook_body(delivery: Delivery, message: Message) -> bytes:
    """Slack's incoming-webhook JSON (Mattermost and Teams take it too), with the event for machines."""
    event = delivery.event
    url = absolute(message.link)
    payload = {
        "text": f"{message.text} <{url}|Open in the portal>",
        "event": {
            "id": event.pk,
            "verb": event.verb,
            "target": event.target,
            "actor": event.actor.get_username(),
            "at": event.created_at.isoformat(),
            "topic": message.topic,
            "text": message.text,
            "url": url,
        },
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def _send_webhook(delivery: Delivery, message: Message) -> None:
    hook = delivery.webhook
    if hook is None or not hook.is_active:
        raise PermanentFailure("The webhook was deleted or turned off.")
    body = webhook_body(delivery, message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "gpu-quota-portal",
        signing.DELIVERY_HEADER: str(delivery.pk),
        **signing.headers(hook.secret, body),
    }
    request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(1024)
    except urllib.error.HTTPError as error:
        reason = f"The receiver answered {error.code} {error.reason}."
        raise (TransientFailure if error.code >= 500 or error.code == 429 else PermanentFailure)(reason) from None
    except (urllib.error.URLError, OSError) as error:  # refused, unreachable, timed out
        raise TransientFailure(f"{type(error).__name__}: {getattr(error, 'reason', error)}") from None
