"""What happened: the one writer of audit rows, and the fan-out to whoever listens.

`record()` writes the AuditEvent in the caller's transaction and, once that transaction
commits, sends `event_recorded` with the event. Subscribers (notifications, metrics,
webhooks) connect to the signal in their AppConfig.ready(); a subscriber that fails is
logged and never undoes or blocks what happened. Every event has an actor: what no
person did (beat tasks, expiries, automatic reconciles) is done by the system actor.
"""

import logging

from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal

from teams.constants import SYSTEM_USERNAME
from teams.models import AuditEvent, Request

logger = logging.getLogger(__name__)


#: Sent with `event` (an AuditEvent) after the transaction that recorded it commits.
event_recorded = Signal()


def system_actor():
    """The system's user row (created by a migration; re-created if a test flushed the table)."""
    user, created = get_user_model().objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "GPU Quota Portal", "last_name": "(system)"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def is_system_actor(user) -> bool:
    return getattr(user, "username", None) == SYSTEM_USERNAME


def record(
    verb: str,
    *,
    actor,
    target: str,
    request: Request | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Write one audit row for `verb` on `target` by `actor`, and publish it after commit."""
    if actor is None or not getattr(actor, "pk", None):
        raise ValueError(f"{verb}: every event needs an actor; pass system_actor() for what no person did.")
    event = AuditEvent.objects.create(
        actor=actor, verb=verb, target=target, request=request, before=before or {}, after=after or {}
    )
    transaction.on_commit(lambda: _publish(event))
    return event


def _publish(event: AuditEvent) -> None:
    for receiver, outcome in event_recorded.send_robust(sender=AuditEvent, event=event):
        if isinstance(outcome, Exception):
            logger.error(
                "event.subscriber_failed",
                exc_info=outcome,
                extra={"verb": event.verb, "event_id": event.pk, "subscriber": getattr(receiver, "__qualname__", "")},
            )
