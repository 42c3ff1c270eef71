"""Provisioning's answers to the workflow: enqueueing applies, and the capacity approvers weigh."""

import logging
from decimal import Decimal

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
    from provisioning.tasks import reconcile_namespace
    from teams.models import TeamNamespace

    name = event.target.removeprefix("namespace:")
    namespace_id = TeamNamespace.objects.live().filter(name=name).values_list("pk", flat=True).first()
    if namespace_id is None:
        return
    try:
        reconcile_namespace.delay(namespace_id)
    except Exception:
        logger.exception("namespace.enqueue_failed", extra={"namespace": name})


def default_cluster_gpu_capacity() -> Decimal | None:
    """Allocatable GPU-equivalents of the default cluster at its last capacity sync; None before the first."""
    from provisioning.models import Cluster

    cluster = Cluster.objects.filter(is_default=True).only("gpu_capacity", "capacity_synced_at").first()
    if cluster is None or cluster.capacity_synced_at is None:
        return None
    return cluster.gpu_capacity
