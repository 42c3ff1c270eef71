"""Celery tasks that tell people: the fan-out of one event, one delivery with its retries, and token notices."""

import logging
from datetime import timedelta

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken
from notifications import delivery as deliveries
from notifications.models import Delivery, TokenNotice
from teams import events
from teams.events import system_actor

logger = logging.getLogger(__name__)

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="notifications.fan_out", **RELIABLE)
def fan_out(event_id: int) -> int:
    """Inbox lines and deliveries for one event; each delivery is then sent by its own task."""
    pending = deliveries.fan_out(event_id)
    for delivery_id in pending:
        deliver.delay(delivery_id)
    return len(pending)


@shared_task(name="notifications.deliver", bind=True, max_retries=None, **RELIABLE)
def deliver(self, delivery_id: int) -> str:
    """Send one delivery once; a transient failure is tried again with backoff, up to NOTIFICATIONS_MAX_ATTEMPTS."""
    delivery = deliveries.claim(delivery_id)
    if delivery is None:
        return "not mine"
    try:
        deliveries.send(delivery)
    except deliveries.PermanentFailure as error:
        deliveries.settle(delivery, Delivery.State.FAILED, str(error))
        logger.warning("notification.failed", extra={"delivery": delivery_id, "error": str(error)})
        return "failed"
    except deliveries.TransientFailure as error:
        if delivery.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
            deliveries.settle(delivery, Delivery.State.FAILED, f"Gave up after {delivery.attempts} attempts: {error}")
            logger.warning("notification.gave_up", extra={"delivery": delivery_id, "error": str(error)})
            return "failed"
        deliveries.settle(delivery, Delivery.State.PENDING, str(error))
        countdown = get_exponential_backoff_interval(
            factor=settings.NOTIFICATIONS_RETRY_BACKOFF_SECONDS, retries=delivery.attempts - 1, maximum=600
        )
        logger.info("notification.retrying", extra={"delivery": delivery_id, "in": countdown, "error": str(error)})
        raise self.retry(countdown=countdown) from None
    deliveries.settle(delivery, Delivery.State.SENT)
    logger.info("notification.sent", extra={"delivery": delivery_id, "channel": delivery.channel})
    return "sent"


@shared_task(name="notifications.announce_expiring_tokens", max_retries=0)
def announce_expiring_tokens() -> int:
    """Tell each owner once that a token of theirs expires within TOKEN_EXPIRY_NOTICE_DAYS."""
    now = timezone.now()
    soon = now + timedelta(days=settings.TOKEN_EXPIRY_NOTICE_DAYS)
    expiring = (
        ApiToken.objects.filter(revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=soon)
        .exclude(pk__in=TokenNotice.objects.values("token_id"))
        .select_related("user")
    )
    announced = 0
    for token in expiring:
        try:
            with transaction.atomic():
                event = events.record(
                    "token.expiring",
                    actor=system_actor(),
                    target=f"user:{token.user.get_username()}",
                    after={"token": token.pk, "name": token.name, "expires_on": f"{token.expires_at:%Y-%m-%d}"},
                )
                TokenNotice.objects.create(token=token, event=event)
        except IntegrityError:  # a concurrent run announced it: once is enough
            continue
        announced += 1
    return announced
