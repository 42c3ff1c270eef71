"""Provisioning's answers to the workflow: enqueueing applies, and the capacity approvers weigh."""

import logging

from teams.capacity import ClusterStatus

logger = logging.getLogger(__name__)


#: Events after which a request waits for provisioning.
APPLY_VERBS = frozenset({"request.approved", "request.retried"})


def enqueue_apply_on_event(sender, event, **kwargs) -> None:
    """Enqueue the apply task once an approval or a retry has committed.

    A broker that cannot be reached must not turn a committed approval into an error
    page: the request stays approved and `provisioning.resume_requests` sends it later.
    """
    if event.verb not in APPLY_VERBS:
        return
    from provisioning.tasks import enqueue_apply

    try:
        enqueue_apply(event.request_id)
    except Exception:
        logger.exception("request.enqueue_failed", extra={"portal_request_id": event.request_id})


def enqueue_reconcile_on_event(sender, event, **kwargs) -> None:
    """Enqueue a reconcile once an approver's re-apply (teams.workflow.request_reconcile) has committed."""
    if event.verb != "namespace.reapply_requested":
        return
    from provisioning.tasks import reconcile_namespace, route
    from teams.models import TeamNamespace

    namespace = TeamNamespace.objects.live().by_target(event.target)
    if namespace is None:
        return
    try:
        reconcile_namespace.apply_async((namespace.pk,), **route(namespace.cluster))
    except Exception:
        logger.exception("namespace.enqueue_failed", extra={"namespace": event.target})


def cluster_statuses() -> dict[int, ClusterStatus]:
    """What was last seen of each connected cluster: capacity (None before its first capacity sync), health."""
    from provisioning.models import ClusterConnection

    return {
        connection.cluster_id: ClusterStatus(
            capacity=connection.gpu_capacity if connection.capacity_synced_at else None,
            ready_nodes=connection.ready_nodes,
            health=connection.health,
            health_label=connection.get_health_display(),
            last_synced_at=connection.last_synced_at,
            last_error=connection.last_error,
        )
        for connection in ClusterConnection.objects.all()
    }
