"""A request's conversation: comments from its team and the approvers, each audited.

A comment changes no desired state, yet it is part of why a request was decided as it was,
so it is recorded as an event (and heard by whoever subscribes, e.g. notifications).
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from teams import events
from teams.limits import MAX_NOTE_LENGTH, required_text
from teams.models import Comment, Request
from teams.roles import can_comment


def add_comment(request: Request, *, actor, body: str) -> Comment:
    """`actor` writes `body` on `request`, which they can see (callers fetch it through visible_to)."""
    if not can_comment(actor, request):
        raise PermissionDenied("Only the request's team and the approvers take part in its conversation.")
    body = required_text("body", body, MAX_NOTE_LENGTH, "Write something first.")
    with transaction.atomic():
        comment = Comment.objects.create(request=request, author=actor, body=body, revision=request.revision)
        events.record(
            "request.commented",
            actor=actor,
            target=f"request:{request.pk}",
            request=request,
            after={"comment": comment.pk, "body": comment.body},
        )
    return comment
