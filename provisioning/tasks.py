"""Celery tasks: apply approved requests, and read the cluster back on a timer.

Tasks take ids, re-read their rows and return early when there is nothing left to do,
so a redelivered message (acks_late, reject_on_worker_lost) is harmless. Transient
cluster errors are retried with capped exponential backoff until a deadline
(PROVISIONING_RETRY_DEADLINE_SECONDS), however long the outage until then; a successful
sync of the cluster sends the applies waiting out a backoff at once, and resume_requests
sends again those not heard of for PROVISIONING_STUCK_AFTER_SECONDS (a killed worker's).
Only one message at a time works on a request (provisioning.pending). Conflicts and
permanent errors fail the request at once with the API server's message. A reconcile that
fails is recorded on the namespace and not tried again automatically until its desired
state changes or an approver retries.
"""

import logging
import random
import time
from collections.abc import Callable

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from provisioning import applying, pending
from provisioning.cluster import ClusterError, ConflictError, TransientError
from provisioning.locks import task_lock
from provisioning.models import ClusterConnection, PendingApply
from provisioning.sync import sync_capacity as sync_capacity_of
from provisioning.sync import sync_usage as sync_usage_of
from teams import events, workflow
from teams.capacity import guaranteed_total, json_gpus
from teams.events import system_actor
from teams.models import Cluster, Request, TeamNamespace

logger = logging.getLogger(__name__)

State = Request.State
RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}
#: Tasks that talk to the cluster retry transient errors until PROVISIONING_RETRY_DEADLINE_SECONDS, not a count.
RETRIED = {**RELIABLE, "bind": True, "max_retries": None}
#: Periodic tasks never retry: the next beat runs them again.
PERIODIC = {**RELIABLE, "max_retries": 0}


@shared_task(name="provisioning.apply_request", **RETRIED)
def apply_request(self, request_id: int, token: str | None = None) -> str:
    """Apply an approved request's namespace: approved -> applying -> applied, or failed."""
    return _run_request(self, request_id, token, lambda request: applying.apply_namespace(request.namespace))


@shared_task(name="provisioning.delete_namespace", **RETRIED)
def delete_namespace(self, request_id: int, token: str | None = None) -> str:
    """Delete a managed namespace; refused while pods run unless the request says force."""

    def delete(request: Request) -> None:
        applying.delete_namespace(request.namespace, force=bool(request.proposed_spec.get("force")))

    return _run_request(self, request_id, token, delete)


@shared_task(name="provisioning.reconcile_namespace", **RETRIED)
def reconcile_namespace(self, namespace_id: int, started: float | None = None) -> str:
    """Restore a drifted namespace to its desired state, taking back fields others changed."""
    namespaces = TeamNamespace.objects.live().select_related("cluster", "team__cost_center", "tier")
    namespace = namespaces.filter(pk=namespace_id).first()
    if namespace is None:
        return "gone"
    started = started or time.time()
    before = namespace.drift
    try:
        applying.apply_namespace(namespace, force=True)
    except TransientError as error:
        attempts, waited = self.request.retries + 1, time.time() - started
        if waited >= settings.PROVISIONING_RETRY_DEADLINE:
            return _reconcile_failed(namespace, _gave_up(attempts, waited, error))
        countdown = backoff(self.request.retries)
        logger.warning(
            "namespace.reconcile_retrying",
            extra={
                "cluster": namespace.cluster.name,
                "namespace": namespace.name,
                "error": str(error),
                "attempt": attempts,
                "countdown": countdown,
            },
        )
        kwargs = {"namespace_id": namespace_id, "started": started}
        raise self.retry(exc=error, countdown=countdown, args=(), kwargs=kwargs) from None
    except ClusterError as error:
        return _reconcile_failed(namespace, str(error))
    events.record("namespace.reconciled", actor=system_actor(), target=namespace.audit_target, before={"drift": before})
    return "reconciled"


def _reconcile_failed(namespace: TeamNamespace, message: str) -> str:
    """Record the failure once, with the digest of what failed, so that sync does not re-enqueue it."""
    now = timezone.now()
    with transaction.atomic():
        TeamNamespace.objects.filter(pk=namespace.pk).update(
            reconcile_state=TeamNamespace.ReconcileState.FAILED,
            reconcile_error=message,
            reconcile_failed_at=now,
            reconcile_failed_digest=applying.desired_digest(namespace),
        )
        events.record(
            "namespace.reconcile_failed",
            actor=system_actor(),
            target=namespace.audit_target,
            before={"drift": namespace.drift},
            after={"error": message},
        )
    logger.warning(
        "namespace.reconcile_failed",
        extra={"cluster": namespace.cluster.name, "namespace": namespace.name, "error": message},
    )
    return "failed"


@shared_task(name="provisioning.sync_usage", **PERIODIC)
def sync_usage() -> dict:
    """Beat's tick: one usage sync task per cluster, so a slow or unreachable cluster delays no other."""
    return _fan_out(sync_cluster_usage)


@shared_task(name="provisioning.sync_capacity", **PERIODIC)
def sync_capacity() -> dict:
    """Beat's tick: one capacity sync task per cluster."""
    return _fan_out(sync_cluster_capacity)


@shared_task(name="provisioning.sync_cluster_usage", **PERIODIC)
def sync_cluster_usage(cluster_id: int) -> dict | str:
    """One cluster's quota usage, once at a time however many beat processes run.

    A cluster that answers is healthy again: the applies waiting out a backoff for it go now.
    """

    def sync(cluster: Cluster) -> dict:
        result = sync_usage_of(cluster)
        resumed = resume_waiting(cluster)
        if settings.AUTO_RECONCILE:
            for namespace_id in applying.due_for_reconcile(cluster, result.drifted):
                reconcile_namespace.apply_async((namespace_id,), **route(cluster))
        return {"namespaces": result.namespaces, "samples": result.samples, "resumed": resumed}

    return _under_lease("provisioning.sync_usage", cluster_id, sync)


@shared_task(name="provisioning.sync_cluster_capacity", **PERIODIC)
def sync_cluster_capacity(cluster_id: int) -> dict | str:
    def sync(cluster: Cluster) -> dict:
        connection = sync_capacity_of(cluster)
        return {"gpus": json_gpus(connection.gpu_capacity), "guaranteed": json_gpus(guaranteed_total(cluster))}

    return _under_lease("provisioning.sync_capacity", cluster_id, sync)


def _fan_out(task) -> dict:
    """Send `task` once for every connected cluster, each to the cluster's queue when there is one."""
    sent = {}
    for connection in ClusterConnection.objects.every():
        task.apply_async((connection.cluster_id,), **route(connection.cluster))
        sent[connection.cluster.name] = "sent"
    return sent


def _under_lease(lock: str, cluster_id: int, sync: Callable[[Cluster], dict]) -> dict | str:
    """Run `sync` for one cluster under that cluster's own lease: two clusters' syncs never wait on each other."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return "gone"
    with task_lock(lock, cluster.name) as held:
        if not held:
            return "skipped: another sync of this cluster holds the lock"
        try:
            return sync(cluster)
        except ClusterError as error:
            return f"failed: {error}"


def route(cluster: Cluster) -> dict:
    """Where a cluster's tasks go: its own queue (`cluster.<name>`) with PROVISIONING_QUEUE_PER_CLUSTER on.

    A worker near the cluster then consumes it (`celery -A portal worker -Q cluster.<name>`); off, every
    task goes to the default queue and any worker takes it.
    """
    return {"queue": f"cluster.{cluster.name}"} if settings.PROVISIONING_QUEUE_PER_CLUSTER else {}


@shared_task(name="provisioning.resume_requests", max_retries=0)
def resume_requests() -> int:
    """Send again the applies not heard of for PROVISIONING_STUCK_AFTER_SECONDS.

    Their message was lost: the worker running it was killed (a broker redelivers only after its
    visibility timeout), or the broker could not be reached when it was sent.
    """
    now = timezone.now()
    pending.prune()
    sent = sum(_resend(attempt, "request.resent") for attempt in pending.overdue(now))
    for request_id in pending.unsent(now):
        enqueue_apply(request_id)
        sent += 1
    return sent


def resume_waiting(cluster: Cluster) -> int:
    """Send now the applies waiting out a backoff after an error of `cluster`, which has just answered."""
    return sum(_resend(attempt, "request.resumed") for attempt in pending.waiting_on(cluster, timezone.now()))


def enqueue_apply(request_id: int) -> None:
    """Start provisioning a request, after the event that approved or retried it: a new chain, a fresh deadline."""
    _send(request_id, pending.start(request_id))


def _resend(attempt: PendingApply, verb: str) -> bool:
    token = pending.resend(attempt)
    if token is None:
        return False  # another beat process sent it first
    logger.info(verb, extra={"portal_request_id": attempt.request_id, "attempts": attempt.attempts})
    _send(attempt.request_id, token)
    return True


def _send(request_id: int, token: str) -> None:
    request = Request.objects.select_related("cluster").only("kind", "cluster__name").get(pk=request_id)
    task = delete_namespace if request.kind == Request.Kind.DELETE_NAMESPACE else apply_request
    task.apply_async(kwargs={"request_id": request_id, "token": token}, **route(request.cluster))


def _run_request(task, request_id: int, token: str | None, action: Callable[[Request], object]) -> str:
    request = Request.objects.select_related(
        "cluster", "namespace__cluster", "namespace__team__cost_center", "namespace__tier"
    ).filter(pk=request_id)
    request = request.first()
    if request is None:
        return "gone"
    if request.state not in pending.WAITING:
        pending.discard(request_id)
        return request.state  # applied, failed, cancelled...: a redelivery or a stale message
    attempt = pending.claim(request_id, token)
    if attempt is None:
        logger.info("request.superseded", extra={"portal_request_id": request_id})
        return "superseded"  # a newer message of this request runs it (or ran it)
    if request.state == State.APPROVED:
        workflow.mark_applying(request_id, actor=system_actor())
    try:
        action(request)
    except TransientError as error:
        waited = (timezone.now() - attempt.started_at).total_seconds()
        if pending.past_deadline(attempt):
            return _finish(
                workflow.mark_failed,
                attempt,
                error=_gave_up(attempt.attempts, waited, error),
                reason=Request.FailureReason.GAVE_UP,
            )
        countdown = backoff(attempt.attempts - 1)
        next_token = pending.schedule_retry(attempt, countdown, str(error))
        if next_token is None:
            return "superseded"
        logger.warning(
            "request.retrying",
            extra={
                "portal_request_id": request_id,
                "error": str(error),
                "attempt": attempt.attempts,
                "countdown": countdown,
                "waited": round(waited),
            },
        )
        kwargs = {"request_id": request_id, "token": next_token}
        raise task.retry(exc=error, countdown=countdown, args=(), kwargs=kwargs) from None
    except ConflictError as error:
        managers = ", ".join(error.managers) or "another field manager"
        return _finish(
            workflow.mark_failed,
            attempt,
            error=f"Conflict: fields are owned by {managers}, and the portal never takes them silently. "
            f"Resolve it (or reconcile the namespace with force), then retry. The API server said: {error}",
            reason=Request.FailureReason.CONFLICT,
        )
    except ClusterError as error:
        return _finish(workflow.mark_failed, attempt, error=str(error), reason=Request.FailureReason.REFUSED)
    return _finish(workflow.mark_applied, attempt)


def _finish(transition, attempt: PendingApply, **kwargs) -> str:
    try:
        with transaction.atomic():
            state = transition(attempt.request_id, actor=system_actor(), **kwargs).state
            pending.finish(attempt)
    except workflow.InvalidTransition as error:
        # A concurrent delivery of the same message finished first; its result stands.
        logger.info("request.already_finished", extra={"portal_request_id": attempt.request_id, "detail": str(error)})
        return "duplicate"
    return state


def backoff(retries: int) -> int:
    """Seconds before retry number `retries + 1`: doubling from PROVISIONING_RETRY_BACKOFF_SECONDS up to
    PROVISIONING_RETRY_BACKOFF_MAX_SECONDS, each between half and all of that (jitter spreads a
    crowd of retries, the half keeps a long backoff long)."""
    ceiling = min(settings.PROVISIONING_RETRY_BACKOFF_MAX, settings.PROVISIONING_RETRY_BACKOFF * 2 ** min(retries, 32))
    return random.randint((ceiling + 1) // 2, ceiling)


def _gave_up(attempts: int, waited: float, error: Exception) -> str:
    minutes, seconds = divmod(round(waited), 60)
    duration = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return f"Gave up after {attempts} attempts over {duration}; the cluster kept failing: {error}"
