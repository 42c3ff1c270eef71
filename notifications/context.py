"""The header's unread count: one COUNT per page, for signed-in users only."""

from django.http import HttpRequest

from notifications.models import Notification


def unread(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": Notification.objects.visible_to(user).unread().count()}
