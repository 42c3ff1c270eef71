"""How often live fragments poll: at the sync interval, since nothing they show changes faster."""

from django.conf import settings
from django.http import HttpRequest


def live_updates(request: HttpRequest) -> dict:
    return {"live_seconds": settings.PROVISIONING_SYNC_INTERVAL}
