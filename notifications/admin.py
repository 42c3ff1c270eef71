"""For looking: deliveries and their errors, webhooks (never their secrets), inbox lines."""

from django.contrib import admin

from notifications.models import Delivery, Notification, Webhook
from teams.admin import LookOnlyAdmin


@admin.register(Delivery)
class DeliveryAdmin(LookOnlyAdmin):
    list_display = ["created_at", "event", "channel", "address", "state", "attempts", "sent_at"]
    list_filter = ["state", "channel"]
    list_select_related = ["event__actor"]
    search_fields = ["address", "last_error"]


@admin.register(Webhook)
class WebhookAdmin(LookOnlyAdmin):
    """Added and turned off on the Webhooks page, where each change is audited."""

    list_display = ["name", "team", "url", "is_active", "created_by", "created_at"]
    list_select_related = ["team", "created_by"]
    exclude = ["secret"]
    search_fields = ["name", "url"]


@admin.register(Notification)
class NotificationAdmin(LookOnlyAdmin):
    list_display = ["created_at", "recipient", "topic", "text", "read_at"]
    list_filter = ["topic"]
    list_select_related = ["recipient"]
    search_fields = ["text", "recipient__username"]
