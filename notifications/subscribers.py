"""The events module's subscriber: each event people are told of becomes a fan-out task, after commit."""

from django.dispatch import receiver

from notifications.routing import RULES
from notifications.tasks import fan_out
from teams.events import event_recorded
from teams.models import AuditEvent


@receiver(event_recorded, dispatch_uid="notifications.tell_people")
def tell_people(sender, event: AuditEvent, **kwargs) -> None:
    """Enqueue the fan-out; a broker that is down is logged by the events module and never fails the workflow."""
    if event.verb in RULES:
        fan_out.delay(event.pk)
