"""Celery tasks: apply approved requests, and read the cluster back on a timer.

Tasks take ids, re-read their rows and return early when there is nothing left to do,
so a redelivered message (acks_late, reject_on_worker_lost) is harmless. Transient
cluster errors are retried with exponential backoff and jitter, a bounded number of
times (PROVISIONING_MAX_RETRIES); conflicts and permanent errors fail the request at
once with the API server's message. A reconcile that fails is recorded on the namespace
and not tried again automatically until its desired state changes or an approver retries.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from provisioning import applying
from provisioning.cluster import ClusterError, ConflictError, TransientError
from provisioning.locks import task_lock
from provisioning.models import Cluster
from provisioning.sync import sync_capacity as sync_cluster_capacity
from provisioning.sync import sync_usage as sync_cluster_usage
from teams import events, workflow
from teams.events import system_actor
from teams.models import Request, TeamNamespace

logger = logging.getLogger(__name__)

State = Request.State
RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}
#: Tasks that talk to the cluster retry transient errors this many times at most (read again at each retry).
RETRIED = {**RELIABLE, "bind": True, "max_retries": settings.PROVISIONING_MAX_RETRIES}
#: Periodic tasks never retry: the next beat runs them again.
PERIODIC = {**RELIABLE, "max_retries": 0}


@shared_task(name="provisioning.apply_request", **RETRIED)
def apply_request(self, request_id: int) -> str:
    """Apply an approved request's namespace: approved -> applying -> applied, or failed."""
    return _run_request(self, request_id, lambda request: applying.apply_namespace(request.namespace))


@shared_task(name="provisioning.delete_namespace", **RETRIED)
def delete_namespace(self, request_id: int) -> str:
    """Delete a managed namespace; refused while pods run unless the request says force."""

    def delete(request: Request) -> None:
        applying.delete_namespace(request.namespace, force=bool(request.proposed_spec.get("force")))

    return _run_request(self, request_id, delete)


@shared_task(name="provisioning.reconcile_namespace", **RETRIED)
def reconcile_namespace(self, namespace_id: int) -> str:
    """Restore a drifted namespace to its desired state, taking back fields others changed."""
    namespace = TeamNamespace.objects.live().select_related("team__cost_center", "tier").filter(pk=namespace_id).first()
    if namespace is None:
        return "gone"
    before = namespace.drift
    try:
        applying.apply_namespace(namespace, force=True)
    except TransientError as error:
        if self.request.retries >= _max_retries():
            attempts = self.request.retries + 1
            return _reconcile_failed(namespace, f"Gave up after {attempts} attempts; the cluster kept failing: {error}")
        raise self.retry(exc=error, countdown=_backoff(self.request.retries), max_retries=_max_retries()) from None
    except ClusterError as error:
        return _reconcile_failed(namespace, str(error))
    events.record(
        "namespace.reconciled", actor=system_actor(), target=f"namespace:{namespace.name}", before={"drift": before}
    )
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
            target=f"namespace:{namespace.name}",
            before={"drift": namespace.drift},
            after={"error": message},
        )
    logger.warning("namespace.reconcile_failed", extra={"namespace": namespace.name, "error": message})
    return "failed"


@shared_task(name="provisioning.sync_usage", **PERIODIC)
def sync_usage() -> dict:
    """Every cluster's quota usage, once at a time however many beat processes run."""

    def sync(cluster: Cluster) -> dict:
        result = sync_cluster_usage(cluster)
        if settings.AUTO_RECONCILE:
            for namespace_id in applying.due_for_reconcile(result.drifted):
                reconcile_namespace.delay(namespace_id)
        return {"namespaces": result.namespaces, "samples": result.samples}

    return _each_cluster("provisioning.sync_usage", timedelta(seconds=settings.PROVISIONING_SYNC_INTERVAL * 4), sync)


@shared_task(name="provisioning.sync_capacity", **PERIODIC)
def sync_capacity() -> dict:
    def sync(cluster: Cluster) -> dict:
        cluster = sync_cluster_capacity(cluster)
        return {"gpus": cluster.gpu_capacity, "guaranteed": cluster.guaranteed_gpus}

    return _each_cluster("provisioning.sync_capacity", timedelta(minutes=5), sync)


def _each_cluster(lock: str, ttl: timedelta, sync: Callable[[Cluster], dict]) -> dict:
    """Run `sync` for every cluster under the lease `lock`; one failing cluster does not stop the others."""
    results: dict = {}
    with task_lock(lock, ttl) as held:
        if not held:
            return {"skipped": "another sync holds the lock"}
        for cluster in Cluster.objects.all_or_default():
            try:
                results[cluster.name] = sync(cluster)
            except ClusterError as error:
                results[cluster.name] = f"failed: {error}"
    return results


@shared_task(name="provisioning.resume_requests", max_retries=0)
def resume_requests() -> int:
    """Re-enqueue approved requests whose task was never sent (a broker outage at approval)."""
    stale = timezone.now() - timedelta(minutes=2)
    request_ids = list(Request.objects.filter(state=State.APPROVED, decided_at__lt=stale).values_list("pk", flat=True))
    for request_id in request_ids:
        enqueue_apply(request_id)
    return len(request_ids)


def enqueue_apply(request_id: int) -> None:
    """Send a request to the task for its kind; after the event that approved or retried it."""
    kind = Request.objects.filter(pk=request_id).values_list("kind", flat=True).first()
    task = delete_namespace if kind == Request.Kind.DELETE_NAMESPACE else apply_request
    task.delay(request_id)


def _run_request(task, request_id: int, action: Callable[[Request], object]) -> str:
    request = Request.objects.select_related("namespace__team__cost_center", "namespace__tier").filter(pk=request_id)
    request = request.first()
    if request is None:
        return "gone"
    if request.state == State.APPROVED:
        workflow.mark_applying(request_id, actor=system_actor())
    elif request.state != State.APPLYING:
        return request.state  # applied, failed, cancelled...: a redelivery or a stale message
    try:
        action(request)
    except TransientError as error:
        if task.request.retries >= _max_retries():
            return _finish(
                workflow.mark_failed,
                request_id,
                error=f"Gave up after {task.request.retries + 1} attempts; the cluster kept failing: {error}",
                reason=Request.FailureReason.GAVE_UP,
            )
        logger.warning("request.retrying", extra={"request_id": request_id, "error": str(error)})
        raise task.retry(exc=error, countdown=_backoff(task.request.retries), max_retries=_max_retries()) from None
    except ConflictError as error:
        managers = ", ".join(error.managers) or "another field manager"
        return _finish(
            workflow.mark_failed,
            request_id,
            error=f"Conflict: fields are owned by {managers}, and the portal never takes them silently. "
            f"Resolve it (or reconcile the namespace with force), then retry. The API server said: {error}",
            reason=Request.FailureReason.CONFLICT,
        )
    except ClusterError as error:
        return _finish(workflow.mark_failed, request_id, error=str(error), reason=Request.FailureReason.REFUSED)
    return _finish(workflow.mark_applied, request_id)


def _finish(transition, request_id: int, **kwargs) -> str:
    try:
        return transition(request_id, actor=system_actor(), **kwargs).state
    except workflow.InvalidTransition as error:
        # A concurrent delivery of the same message finished first; its result stands.
        logger.info("request.already_finished", extra={"request_id": request_id, "detail": str(error)})
        return "duplicate"


def _backoff(retries: int) -> int:
    return get_exponential_backoff_interval(
        factor=settings.PROVISIONING_RETRY_BACKOFF, retries=retries, maximum=300, full_jitter=True
    )


def _max_retries() -> int:
    return settings.PROVISIONING_MAX_RETRIES
