"""How long ago something happened, in the words every page uses."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

#: Below this, "0 minutes ago" would be true but useless.
JUST_NOW = timedelta(minutes=1)


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """ "just now" for the last minute, else "3 minutes ago"; nothing for no moment."""
    if moment is None:
        return ""
    now = now or timezone.now()
    if now - moment < JUST_NOW:
        return "just now"
    return f"{timesince(moment, now)} ago"
