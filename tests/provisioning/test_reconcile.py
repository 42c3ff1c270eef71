"""Reconciliation that ends: a reconcile the API server refuses is recorded once and held until something changes.

The real API server, a real worker, the real sync task with AUTO_RECONCILE on. The only
shortcut is the broken desired state, written straight into the row: a gap in policy,
simulated (an object count beside a PriorityClass scope, which the API server rejects).
"""

import pytest
from django.urls import reverse

from provisioning import applying
from provisioning.tasks import reconcile_namespace
from provisioning.tasks import sync_usage as sync_usage_task
from teams.events import SYSTEM_USERNAME
from teams.models import AuditEvent, TeamNamespace
from tests.kube import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

SCOPE = {"matchExpressions": [{"operator": "In", "scopeName": "PriorityClass", "values": ["ml-high"]}]}
REJECTED_QUOTA = {"name": "ml-high-quota", "hard": {"pods": "20", "services": "5"}, "scopeSelector": SCOPE}
ACCEPTED_QUOTA = {"name": "ml-high-quota", "hard": {"pods": "20"}, "scopeSelector": SCOPE}


def applied_copy(world, cluster, name: str) -> TeamNamespace:
    """The seed's ml-research under a fresh name, applied to the cluster."""
    namespace = world.namespace("ml-research")
    namespace.pk, namespace.name = None, name
    namespace.save()
    applying.apply_namespace(namespace)
    return TeamNamespace.objects.select_related("team__cost_center", "tier").get(pk=namespace.pk)


def events_of(verb: str, namespace: TeamNamespace) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb=verb, target=namespace.audit_target).order_by("pk"))


def wait_for_events(verb: str, namespace: TeamNamespace, count: int) -> None:
    wait_until(
        lambda: len(events_of(verb, namespace)) >= count,
        timeout=60,
        what=f"{count} {verb} event(s) for {namespace.name}",
    )


def break_desired_state(namespace: TeamNamespace) -> None:
    TeamNamespace.objects.filter(pk=namespace.pk).update(quotas=[*namespace.quotas, REJECTED_QUOTA])


def drain(healthy: TeamNamespace, reconciles: int) -> None:
    """Wait until the worker has run everything enqueued so far: the broker is FIFO and the worker has
    one slot, so once a reconcile of `healthy` enqueued now has run, every earlier message has too."""
    reconcile_namespace.delay(healthy.pk)
    wait_for_events("namespace.reconciled", healthy, reconciles)


@pytest.fixture
def failed(world, cluster, worker, settings, unique_name) -> tuple[TeamNamespace, TeamNamespace]:
    """A namespace whose automatic reconcile the API server refused once; and a healthy one beside it."""
    settings.AUTO_RECONCILE = True
    namespace = applied_copy(world, cluster, unique_name("held"))
    healthy = applied_copy(world, cluster, unique_name("healthy"))
    break_desired_state(namespace)

    sync_usage_task.apply().get()  # the desired state moved: drift, flagged and reconciled at the next sync
    sync_usage_task.apply().get()
    wait_for_events("namespace.reconcile_failed", namespace, 1)
    return TeamNamespace.objects.get(pk=namespace.pk), healthy


def test_a_permanent_reconcile_failure_is_recorded_once_and_not_retried_by_the_next_syncs(failed):
    namespace, healthy = failed

    sync_usage_task.apply().get()
    sync_usage_task.apply().get()
    drain(healthy, 1)

    assert namespace.reconcile_state == TeamNamespace.ReconcileState.FAILED
    assert "unsupported scope applied to resource" in namespace.reconcile_error
    assert namespace.reconcile_failed_at is not None
    [event] = events_of("namespace.reconcile_failed", namespace)
    assert event.actor.username == SYSTEM_USERNAME
    assert event.after == {"error": namespace.reconcile_error}
    assert events_of("namespace.reconciled", namespace) == []
    assert TeamNamespace.objects.get(pk=namespace.pk).is_drifted  # still reported, just not retried


def test_a_change_of_desired_state_re_enables_reconciling(failed):
    namespace, _ = failed
    quotas = [quota for quota in namespace.quotas if quota["name"] != REJECTED_QUOTA["name"]]
    TeamNamespace.objects.filter(pk=namespace.pk).update(quotas=[*quotas, ACCEPTED_QUOTA])

    sync_usage_task.apply().get()
    wait_for_events("namespace.reconciled", namespace, 1)

    namespace.refresh_from_db()
    assert (namespace.reconcile_state, namespace.reconcile_error, namespace.reconcile_failed_at) == (
        TeamNamespace.ReconcileState.RECONCILED,
        "",
        None,
    )
    assert len(events_of("namespace.reconcile_failed", namespace)) == 1


def test_an_approvers_retry_on_the_cluster_page_reconciles_again_and_is_audited(world, failed, client, core):
    namespace, _ = failed
    client.force_login(world.approver)
    page = client.get(reverse("cluster-overview")).content.decode()
    assert "reconcile failed" in page
    assert "Retry reconcile" in page

    response = client.post(
        reverse("namespace-reapply", args=[namespace.cluster.name, namespace.name]), {"back": "namespace"}
    )
    wait_for_events("namespace.reconcile_failed", namespace, 2)  # still refused: the retry did run

    assert (response.status_code, response["Location"]) == (302, namespace.get_absolute_url())
    [retry] = events_of("namespace.reapply_requested", namespace)
    assert retry.actor == world.approver
    assert "unsupported scope applied to resource" in retry.before["reconcile_error"]
    assert len(events_of("namespace.reconcile_failed", namespace)) == 2
    detail = client.get(namespace.get_absolute_url()).content.decode()
    assert "Reconciling failed" in detail
    assert "unsupported scope applied to resource" in detail
