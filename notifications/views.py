"""A person's notifications, what reaches them, and the webhooks approvers configure."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from notifications.forms import PERSONAL_CHANNELS, WebhookForm, preference_grid, preference_key
from notifications.models import Channel, Notification, Preference, Topic, Webhook
from teams import events, roles

#: Enough for a person to catch up; older lines stay in the database.
SHOWN = 100
#: The session slot that carries a new webhook's secret across the redirect, read once and dropped.
NEW_SECRET_SESSION = "notifications.new_webhook_secret"


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    notifications = Notification.objects.visible_to(request.user)
    if request.method == "POST":
        notifications.unread().update(read_at=timezone.now())
        return redirect("notifications")
    return render(request, "notifications/inbox.html", {"notifications": notifications[:SHOWN]})


@login_required
def open_notification(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark it read and go where it points."""
    notification = get_object_or_404(Notification.objects.visible_to(request.user), pk=pk)
    if notification.read_at is None:
        Notification.objects.filter(pk=pk).update(read_at=timezone.now())
    target = notification.link
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "notifications"
    return redirect(target or "notifications")


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """Which topics reach the person by which channel; every box starts ticked."""
    if request.method == "POST":
        with transaction.atomic():
            for topic in Topic.values:
                for channel in PERSONAL_CHANNELS:
                    Preference.objects.update_or_create(
                        user=request.user,
                        topic=topic,
                        channel=channel,
                        defaults={"enabled": request.POST.get(preference_key(topic, channel)) == "on"},
                    )
        messages.success(request, "Saved: from now on, notifications follow these choices.")
        return redirect("notification-preferences")
    chosen = Preference.objects.filter(user=request.user).values_list("topic", "channel", "enabled")
    grid = preference_grid({(topic, channel): enabled for topic, channel, enabled in chosen})
    context = {"grid": grid, "channels": [Channel(channel).label for channel in PERSONAL_CHANNELS]}
    return render(request, "notifications/preferences.html", context)


@never_cache
@login_required
def webhooks(request: HttpRequest) -> HttpResponse:
    """Approvers add a team's or the global webhook; its signing secret is shown once, after the redirect."""
    roles.require_approver(request.user)
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            hook = form.save(commit=False)
            hook.created_by = request.user
            hook.save()
            events.record(
                "webhook.created",
                actor=request.user,
                target=f"webhook:{hook.pk}",
                after={"name": hook.name, "url": hook.url, "team": hook.team.slug if hook.team else None},
            )
        request.session[NEW_SECRET_SESSION] = {"name": hook.name, "secret": hook.secret}
        return redirect("webhooks")
    context = {
        "form": form,
        "webhooks": Webhook.objects.visible_to(request.user).select_related("team"),
        "new_secret": request.session.pop(NEW_SECRET_SESSION, None),
    }
    return render(request, "notifications/webhooks.html", context, status=400 if form.errors else 200)


@login_required
def turn_off_webhook(request: HttpRequest, pk: int) -> HttpResponse:
    """A GET asks to confirm; the POST from that page turns it off."""
    hook = get_object_or_404(Webhook.objects.visible_to(request.user), pk=pk)
    if request.method != "POST":
        return render(request, "notifications/webhook_turn_off.html", {"hook": hook})
    with transaction.atomic():
        events.record(
            "webhook.turned_off",
            actor=request.user,
            target=f"webhook:{hook.pk}",
            before={"name": hook.name, "url": hook.url},
        )
        hook.is_active = False
        hook.save(update_fields=["is_active"])
    messages.success(request, f"Webhook {hook.name} turned off; nothing more is sent to it.")
    return redirect("webhooks")
