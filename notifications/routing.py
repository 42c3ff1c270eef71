"""Which events are worth telling, what each says, and who hears it.

The defaults follow who acts on what: a team's leads hear everything of their team, the
requester hears their request's way, approvers hear of new requests (and of what needs
them: failures, drift), a team's members hear its quota warnings. Nobody is told of what
they did themselves. People narrow this per topic and channel (Preference).
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.urls import reverse

from notifications.models import Topic
from teams.events import is_system_actor
from teams.models import AuditEvent, Request, Team, TeamNamespace
from teams.roles import Role, approvers, finance_people, people_of

User = get_user_model()


@dataclass(frozen=True)
class Message:
    """What one event says, the same on every channel."""

    topic: str
    text: str
    link: str
    team_id: int | None


@dataclass(frozen=True)
class _Rule:
    topic: str
    text: Callable[[AuditEvent], str]
    hears: Callable[[AuditEvent, int | None], set]


def message_for(event: AuditEvent) -> Message | None:
    """The message for `event`, or None when it is not one people are told of."""
    rule = RULES.get(event.verb)
    if rule is None:
        return None
    return Message(rule.topic, _clip(rule.text(event)), _link(event), _team_id(event))


def audience(event: AuditEvent, message: Message) -> set:
    """Who hears `event` by default; never the one who did it, the system, or an account no longer active."""
    hears = RULES[event.verb].hears(event, message.team_id)
    return {user for user in hears if user.pk != event.actor_id and user.is_active and not is_system_actor(user)}


def _team_id(event: AuditEvent) -> int | None:
    if event.request_id:
        return event.request.team_id
    if event.target.startswith("namespace:"):
        namespace = TeamNamespace.objects.by_target(event.target)
        return namespace.team_id if namespace is not None else None
    return None


def _link(event: AuditEvent) -> str:
    if event.request_id:
        return reverse("request-detail", args=[event.request_id])
    if link := event.after.get("link"):
        return link
    if event.target.startswith("namespace:") and (namespace := TeamNamespace.objects.by_target(event.target)):
        return namespace.get_absolute_url()
    if event.target.startswith("user:"):
        return reverse("profile")
    return ""


def _clip(text: str, length: int = 300) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _quoted(text: str, length: int = 140) -> str:
    return f"“{_clip(' '.join(text.split()), length)}”"


# Who hears what.


def _requester_and_leads(event: AuditEvent, team_id: int | None) -> set:
    return {event.request.requested_by, *people_of(team_id, Role.LEAD)}


def _with_approvers(event: AuditEvent, team_id: int | None) -> set:
    return _requester_and_leads(event, team_id) | set(approvers())


def _conversation(event: AuditEvent, team_id: int | None) -> set:
    """The requester, the team's leads, and the approvers who took part in the request so far."""
    took_part = AuditEvent.objects.filter(request_id=event.request_id).values("actor_id")
    return _requester_and_leads(event, team_id) | set(approvers().filter(pk__in=took_part))


def _team(event: AuditEvent, team_id: int | None) -> set:
    return set(people_of(team_id)) if team_id else set()


def _leads_and_approvers(event: AuditEvent, team_id: int | None) -> set:
    return (set(people_of(team_id, Role.LEAD)) if team_id else set()) | set(approvers())


def _finance_and_leads(event: AuditEvent, team_id: int | None) -> set:
    """A budget's: the finance group, and the leads of its team (or of every team of its cost center)."""
    after = event.after
    teams = (
        Team.objects.filter(slug=after["team"])
        if after.get("team")
        else Team.objects.filter(cost_center__code=after.get("cost_center"))
    )
    leads = {user for team_id in teams.values_list("pk", flat=True) for user in people_of(team_id, Role.LEAD)}
    return set(finance_people()) | leads


def _owner(event: AuditEvent, team_id: int | None) -> set:
    return set(User.objects.filter(username=event.target.removeprefix("user:"), is_active=True))


# What each says.


def _request(event: AuditEvent) -> str:
    request: Request = event.request
    return f"request #{request.pk} ({request.get_kind_display()} {request.namespace_name})"


def _note(event: AuditEvent) -> str:
    note = event.after.get("note")
    return f": {_quoted(note)}" if note else ""


def _quota_warning(event: AuditEvent) -> str:
    after = event.after
    return (
        f"{after.get('namespace')}: {after.get('resource')} at {after.get('percent')}% of hard "
        f"({after.get('used')} of {after.get('hard')} in {after.get('quota')})"
    )


def _budget(event: AuditEvent) -> str:
    after = event.after
    scope = f"team {after['team']}" if after.get("team") else f"cost center {after.get('cost_center')}"
    unit = "GPU-hours" if after.get("measure") == "gpu_hours" else after.get("currency", "")
    told = "has reached" if after.get("basis") == "actual" else "is forecast to reach"
    return (
        f"The {after.get('period')}ly budget of {scope} {told} {after.get('percent')}% "
        f"({after.get('value')} of {after.get('limit')} {unit}, period from {after.get('period_start')})"
    )


RULES: dict[str, _Rule] = {
    "request.submitted": _Rule(Topic.REQUESTS, lambda e: f"{e.actor} asked: {_request(e)}{_note(e)}", _with_approvers),
    "request.resubmitted": _Rule(
        Topic.REQUESTS,
        lambda e: f"{e.actor} sent {_request(e)} again as version {e.after.get('revision')}",
        _with_approvers,
    ),
    "request.changes_requested": _Rule(
        Topic.REQUESTS, lambda e: f"{e.actor} asked for changes to {_request(e)}{_note(e)}", _requester_and_leads
    ),
    "request.applying": _Rule(
        Topic.PROGRESS, lambda e: f"{_request(e).capitalize()} is being applied on the cluster", _requester_and_leads
    ),
    "request.approved": _Rule(
        Topic.REQUESTS,
        lambda e: f"{e.actor} approved {_request(e)}{' in part' if e.after.get('granted') else ''}{_note(e)}",
        _requester_and_leads,
    ),
    "request.rejected": _Rule(
        Topic.REQUESTS, lambda e: f"{e.actor} rejected {_request(e)}{_note(e)}", _requester_and_leads
    ),
    "request.cancelled": _Rule(Topic.REQUESTS, lambda e: f"{e.actor} cancelled {_request(e)}", _requester_and_leads),
    "request.declined": _Rule(Topic.REQUESTS, lambda e: f"{e.actor} declined {_request(e)}{_note(e)}", _with_approvers),
    "request.applied": _Rule(
        Topic.REQUESTS, lambda e: f"{_request(e).capitalize()} is applied on the cluster", _requester_and_leads
    ),
    "request.failed": _Rule(
        Topic.REQUESTS,
        lambda e: f"{_request(e).capitalize()} failed to apply: {_clip(e.after.get('error', ''), 160)}",
        _with_approvers,
    ),
    "request.commented": _Rule(
        Topic.COMMENTS, lambda e: f"{e.actor} on {_request(e)}: {_quoted(e.after.get('body', ''))}", _conversation
    ),
    "namespace.quota_warning": _Rule(Topic.QUOTA, _quota_warning, _team),
    "grant.expiring": _Rule(
        Topic.QUOTA,
        lambda e: f"{e.after.get('namespace')}: the time-boxed grant of {_request(e)} ends after "
        f"{e.after.get('until')} ({e.after.get('days')} day{'s' if e.after.get('days') != 1 else ''} left); "
        "its request page asks for an extension in one click",
        _team,
    ),
    "namespace.drift_detected": _Rule(
        Topic.NAMESPACES,
        lambda e: f"{e.target.removeprefix('namespace:')} differs on the cluster from what was approved",
        _leads_and_approvers,
    ),
    "namespace.reconcile_failed": _Rule(
        Topic.NAMESPACES,
        lambda e: f"Re-applying {e.target.removeprefix('namespace:')} failed: {_clip(e.after.get('error', ''), 160)}",
        _leads_and_approvers,
    ),
    "budget.crossed": _Rule(Topic.BUDGETS, _budget, _finance_and_leads),
    "token.expiring": _Rule(
        Topic.TOKENS,
        lambda e: f"Your API token {_quoted(e.after.get('name', ''))} expires on {e.after.get('expires_on')}",
        _owner,
    ),
}
