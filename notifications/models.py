"""Who was told what, how, and whether it arrived.

A `Notification` is a line in a person's inbox in the portal; a `Delivery` is one message to
one address by one channel (an e-mail address, a webhook), unique per event so that a
retried or redelivered task never sends it twice.
"""

import secrets

from django.conf import settings
from django.db import models

from teams import roles
from teams.models import AuditEvent, Team


class Topic(models.TextChoices):
    """What an event is about, as people choose what reaches them."""

    REQUESTS = "requests", "Requests: new, decided, applied, failed"
    PROGRESS = "progress", "Requests being applied (off unless chosen: applied follows within seconds)"
    COMMENTS = "comments", "Comments on requests"
    QUOTA = "quota", "Quota warnings: usage near a namespace's hard limit"
    NAMESPACES = "namespaces", "Namespaces: drift and failed re-applies"
    TOKENS = "tokens", "API tokens about to expire"
    BUDGETS = "budgets", "Budgets: 80% and 100% reached or forecast"


#: Topics nobody hears until they choose to; every other topic is on until unticked.
OFF_BY_DEFAULT = {Topic.PROGRESS}


def chosen(topic: str, choices: dict, key: tuple) -> bool:
    """A person's choice for `key` ((user or topic, channel)), else the topic's default."""
    return choices.get(key, topic not in OFF_BY_DEFAULT)


class Channel(models.TextChoices):
    PORTAL = "portal", "In the portal"
    EMAIL = "email", "E-mail"
    WEBHOOK = "webhook", "Webhook"


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user) -> "NotificationQuerySet":
        return self.filter(recipient=user) if user.is_authenticated else self.none()

    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="+")
    topic = models.CharField(max_length=16, choices=Topic.choices)
    text = models.CharField(max_length=300)
    link = models.CharField(max_length=500, blank=True, help_text="A path in the portal.")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["recipient", "event"], name="one_notification_per_event")]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.text}"


class Preference(models.Model):
    """A person's choice for one topic and channel; without a row, the default (on) holds."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    topic = models.CharField(max_length=16, choices=Topic.choices)
    channel = models.CharField(max_length=16, choices=[c for c in Channel.choices if c[0] != Channel.WEBHOOK])
    enabled = models.BooleanField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "topic", "channel"], name="one_preference")]

    def __str__(self) -> str:
        return f"{self.user} {self.topic} by {self.channel}: {'on' if self.enabled else 'off'}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookQuerySet(models.QuerySet):
    def visible_to(self, user) -> "WebhookQuerySet":
        """Webhooks are the approvers' to add and turn off; to everyone else they do not exist."""
        return self if roles.can_decide(user) else self.none()


class Webhook(models.Model):
    """A Slack-compatible endpoint that hears a team's events (or, without a team, every event), signed."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="webhooks")
    secret = models.CharField(max_length=64, default=new_secret, editable=False, help_text="Shown once, at creation.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WebhookQuerySet.as_manager()

    class Meta:
        ordering = ["team__slug", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.team or 'global'})"


class Delivery(models.Model):
    """One message of one event to one address; its (event, channel, address) is the idempotency key."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    address = models.CharField(max_length=320, help_text="An e-mail address, or webhook:<id>.")
    webhook = models.ForeignKey(Webhook, on_delete=models.SET_NULL, null=True, blank=True, related_name="deliveries")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker began the current attempt.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "channel", "address"], name="one_delivery_per_event_and_address")
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.address} of event {self.event_id}: {self.state}"


class TokenNotice(models.Model):
    """That an API token's coming expiry was announced, so the hourly check announces it once."""

    token = models.OneToOneField("accounts.ApiToken", on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"token {self.token_id} announced by event {self.event_id}"
