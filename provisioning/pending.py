"""Applies under way: one task message at a time per request, a deadline, and re-sending what was lost.

A request's apply is a chain of task messages: the approval (or an approver's retry) sends the
first, each transient failure schedules the next. Each message carries the chain's current token
and only the message holding it may run the request (`claim`), which moves the token on. So a
request sent again — lost with a killed worker, or waiting out a backoff when its cluster is
healthy again — runs once, and the old messages a broker may still deliver find nothing to do.
"""

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, QuerySet
from django.utils import timezone

from provisioning.models import PendingApply
from teams.models import Cluster, Request

#: States in which a request waits for provisioning.
WAITING = (Request.State.APPROVED, Request.State.APPLYING)


def start(request_id: int) -> str:
    """A new chain for an approved or retried request, with a fresh deadline: the token of its first message."""
    now = timezone.now()
    token = _token()
    PendingApply.objects.update_or_create(
        request_id=request_id,
        defaults={
            "cluster_id": _cluster_of(request_id),
            "token": token,
            "started_at": now,
            "attempts": 0,
            "retry_at": None,
            "due_at": now + stuck_after(),
            "last_error": "",
        },
    )
    return token


def claim(request_id: int, token: str | None) -> PendingApply | None:
    """Take the request for one attempt if `token` is the chain's current one; None if another message has it.

    A message without a token (a direct call, or one sent before tokens existed) takes the request over.
    """
    if token is None:
        token = _current_token(request_id)
    now = timezone.now()
    running = _token()
    claimed = PendingApply.objects.filter(request_id=request_id, token=token).update(
        token=running, attempts=F("attempts") + 1, retry_at=None, due_at=now + stuck_after()
    )
    return PendingApply.objects.get(request_id=request_id) if claimed else None


def schedule_retry(attempt: PendingApply, countdown: int, error: str) -> str | None:
    """Record the transient failure and when the next attempt runs: the next message's token.

    None if the request was sent again meanwhile (this attempt outlasted `due_at`): that chain goes on.
    """
    token = _token()
    retry_at = timezone.now() + timedelta(seconds=countdown)
    updated = PendingApply.objects.filter(pk=attempt.pk, token=attempt.token).update(
        token=token, retry_at=retry_at, due_at=retry_at + stuck_after(), last_error=error
    )
    return token if updated else None


def resend(attempt: PendingApply) -> str | None:
    """Move the chain to a new message sent now: its token, or None if another caller moved it first."""
    token = _token()
    updated = PendingApply.objects.filter(pk=attempt.pk, token=attempt.token).update(
        token=token, retry_at=None, due_at=timezone.now() + stuck_after()
    )
    return token if updated else None


def finish(attempt: PendingApply) -> None:
    PendingApply.objects.filter(pk=attempt.pk, token=attempt.token).delete()


def discard(request_id: int) -> None:
    PendingApply.objects.filter(request_id=request_id).delete()


def past_deadline(attempt: PendingApply, now: datetime | None = None) -> bool:
    return (now or timezone.now()) - attempt.started_at >= timedelta(seconds=settings.PROVISIONING_RETRY_DEADLINE)


def overdue(now: datetime) -> QuerySet[PendingApply]:
    """Chains not heard of since they were due: their message died with a worker or never reached the broker."""
    return PendingApply.objects.filter(due_at__lt=now, request__state__in=WAITING).order_by("due_at")


def waiting_on(cluster: Cluster, now: datetime) -> QuerySet[PendingApply]:
    """Chains waiting out a backoff after a transient error of `cluster`."""
    return PendingApply.objects.filter(cluster=cluster, retry_at__gt=now, request__state__in=WAITING)


def unsent(now: datetime) -> list[int]:
    """Requests waiting for provisioning with no chain at all (approved before chains existed), stuck that long."""
    return list(
        Request.objects.filter(state__in=WAITING, updated_at__lt=now - stuck_after())
        .exclude(pk__in=PendingApply.objects.values("request_id"))
        .values_list("pk", flat=True)
    )


def prune() -> int:
    """Drop the chains of requests that no longer wait (applied or failed while a write was lost)."""
    return PendingApply.objects.exclude(request__state__in=WAITING).delete()[0]


def stuck_after() -> timedelta:
    return timedelta(seconds=settings.PROVISIONING_STUCK_AFTER)


def _current_token(request_id: int) -> str:
    attempt, _ = PendingApply.objects.get_or_create(
        request_id=request_id,
        defaults={
            "cluster_id": _cluster_of(request_id),
            "token": _token(),
            "started_at": timezone.now(),
            "due_at": timezone.now() + stuck_after(),
        },
    )
    return attempt.token


def _cluster_of(request_id: int) -> int:
    """The cluster the request is applied to: the one a healthy sync of it resumes the chain for."""
    return Request.objects.filter(pk=request_id).values_list("cluster_id", flat=True).get()


def _token() -> str:
    return uuid.uuid4().hex
