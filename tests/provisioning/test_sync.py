"""Reading the real cluster back: usage samples that grow with change, drift, capacity, the beat lock."""

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning import applying
from provisioning.cluster import ClusterGateway
from provisioning.locks import task_lock
from provisioning.models import ClusterConnection, UsageSample
from provisioning.sync import heartbeat_period, sync_capacity, sync_usage
from provisioning.tasks import sync_cluster_usage
from teams.capacity import CapacityTotals
from teams.models import AuditEvent, TeamNamespace
from tests.kube import (
    pod_manifest,
    quota_used,
    wait_quota_settled,
    wait_running,
    wait_until,
)

pytestmark = [pytest.mark.django_db, pytest.mark.cluster]


def gpu_samples(namespace: TeamNamespace):
    return UsageSample.objects.filter(namespace=namespace, resource="requests.nvidia.com/gpu").order_by("time")


def test_a_running_gpu_pod_shows_in_usage_and_samples(applied, cluster, core):
    core.create_namespaced_pod(applied.name, pod_manifest("trainer", gpus=2, priority_class="ml-high"))
    wait_running(core, applied.name, "trainer")
    wait_until(
        lambda: quota_used(core, applied.name, "ml-research-quota").get("requests.nvidia.com/gpu") == "2",
        timeout=60,
        what="the quota controller to count the pod",
    )

    sync_usage(cluster)

    applied.refresh_from_db()
    assert applied.observed_quotas["ml-research-quota"]["used"]["requests.nvidia.com/gpu"] == "2"
    assert applied.phase == "Active"
    assert [sample.used for sample in gpu_samples(applied)][-1] == 2


def test_samples_are_written_on_change_and_as_an_hourly_heartbeat_only(applied, cluster, core):
    # The ServiceAccount token and root CA ConfigMap move `used` once more after the quota is synced.
    wait_quota_settled(core, applied.name, "ml-research-quota")
    sync_usage(cluster)
    first = UsageSample.objects.filter(namespace=applied).count()

    sync_usage(cluster)
    unchanged = UsageSample.objects.filter(namespace=applied).count()
    sync_usage(cluster, now=timezone.now() + timedelta(hours=1, minutes=1))
    heartbeat = UsageSample.objects.filter(namespace=applied).count()

    assert first == len(applied.quotas[0]["hard"])
    assert unchanged == first
    assert heartbeat == 2 * first


def test_a_quota_edited_behind_the_portals_back_is_drift_with_the_diff(applied, cluster, core, settings):
    core.patch_namespaced_resource_quota(
        "ml-research-quota",
        applied.name,
        {"spec": {"hard": {"requests.nvidia.com/gpu": "64"}}},
        field_manager="kubectl-edit",
    )

    sync_usage(cluster)
    result = sync_usage(cluster)

    applied.refresh_from_db()
    assert applied.name in result.drifted
    assert applied.is_drifted
    assert applied.drift == {
        "quotas": {"ml-research-quota": {"requests.nvidia.com/gpu": {"desired": "8", "observed": "64"}}}
    }


def test_reconciling_restores_a_drifted_namespace(applied, cluster, core):
    core.patch_namespaced_resource_quota(
        "ml-research-quota", applied.name, {"spec": {"hard": {"pods": "500"}}}, field_manager="kubectl-edit"
    )
    sync_usage(cluster)
    sync_usage(cluster)
    from provisioning.tasks import reconcile_namespace

    reconcile_namespace.apply(args=[applied.pk]).get()
    sync_usage(cluster)

    applied.refresh_from_db()
    assert core.read_namespaced_resource_quota("ml-research-quota", applied.name).spec.hard["pods"] == "50"
    assert not applied.is_drifted
    assert AuditEvent.objects.filter(verb="namespace.reconciled", target=applied.audit_target).count() == 1


def test_a_removed_label_is_drift(applied, cluster, core):
    core.patch_namespace(applied.name, {"metadata": {"labels": {"gpu-tier": "critical"}}})

    sync_usage(cluster)
    sync_usage(cluster)

    applied.refresh_from_db()
    assert applied.is_drifted
    assert applied.drift == {"labels": {"gpu-tier": {"desired": "high-priority", "observed": "critical"}}}


def test_a_deleted_namespace_is_missing(applied, cluster, core):
    core.delete_namespace(applied.name)
    wait_until(
        lambda: applied.name not in ClusterGateway(cluster).list_managed_namespaces(),
        timeout=90,
        what="the namespace to go",
    )

    sync_usage(cluster)

    applied.refresh_from_db()
    assert (applied.phase, applied.drift) == ("Missing", {"namespace": "missing from the cluster"})


def test_capacity_is_the_nodes_gpus_and_the_guarantee_the_portal_promised(world, cluster):
    connection = sync_capacity(cluster)

    assert connection.gpu_capacity > 0
    assert connection.ready_nodes > 0
    # ml-research guarantees 8, ml-production 16; ml-experiments is best effort.
    assert CapacityTotals().of(cluster.pk).guaranteed == 24
    assert connection.health == ClusterConnection.Health.OK


def test_an_unreachable_cluster_is_recorded_as_unhealthy(world, proxy):
    forwarder, cluster = proxy
    forwarder.refuse()

    result = sync_cluster_usage.apply((cluster.pk,)).get()

    assert result.startswith("failed: The API server did not answer")
    assert ClusterConnection.objects.get(cluster=cluster).health == ClusterConnection.Health.UNREACHABLE


def test_the_periodic_sync_runs_once_at_a_time(world, cluster):
    with task_lock("provisioning.sync_usage", "local") as held:
        assert held
        assert sync_cluster_usage.apply((cluster.pk,)).get() == "skipped: another sync of this cluster holds the lock"
        with task_lock("provisioning.sync_usage", "local") as second:
            assert not second

    assert sync_cluster_usage.apply((cluster.pk,)).get()["namespaces"] == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_with_auto_reconcile_the_next_sync_restores_a_drifted_quota(applied, cluster, core, worker, settings):
    settings.AUTO_RECONCILE = True
    core.patch_namespaced_resource_quota(
        "ml-research-quota",
        applied.name,
        {"spec": {"hard": {"requests.nvidia.com/gpu": "64"}}},
        field_manager="kubectl-edit",
    )

    sync_cluster_usage.apply((cluster.pk,)).get()
    sync_cluster_usage.apply((cluster.pk,)).get()  # drift is flagged, and reconciled, once two syncs in a row see it

    wait_until(
        lambda: AuditEvent.objects.filter(verb="namespace.reconciled", target=applied.audit_target).exists(),
        timeout=60,
        what="the worker to reconcile the namespace",
    )
    quota = core.read_namespaced_resource_quota("ml-research-quota", applied.name)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "8"


def test_a_steady_cycle_checks_no_namespace_in_full(applied, cluster, core):
    wait_quota_settled(core, applied.name, "ml-research-quota")
    sync_usage(cluster)

    steady = sync_usage(cluster)
    core.patch_namespaced_resource_quota(
        "ml-research-quota", applied.name, {"spec": {"hard": {"pods": "500"}}}, field_manager="kubectl-edit"
    )
    moved = sync_usage(cluster)
    confirmed = sync_usage(cluster)

    assert (steady.checked, steady.samples) == (0, 0)
    assert (moved.checked, moved.drifted) == (1, [])
    assert (confirmed.checked, confirmed.samples, confirmed.drifted) == (1, 0, [applied.name])
    assert UsageSample.objects.filter(namespace=applied, resource="pods").count() == 2


def test_a_drifted_namespace_stays_reported_while_nothing_moves(applied, cluster, core):
    core.patch_namespaced_resource_quota(
        "ml-research-quota", applied.name, {"spec": {"hard": {"pods": "500"}}}, field_manager="kubectl-edit"
    )
    sync_usage(cluster)
    sync_usage(cluster)

    again = sync_usage(cluster)

    assert applied.name in again.drifted  # auto-reconcile acts on this list every cycle


def test_a_tier_change_is_drift_at_the_next_sync_though_the_cluster_did_not_move(applied, cluster):
    sync_usage(cluster)
    tier = applied.tier
    tier.enforces_gpu_burst = True
    tier.save()

    sync_usage(cluster)

    applied.refresh_from_db()
    assert applied.drift["quotas"][f"{applied.name}-burst"] == "missing from the cluster"


def test_a_desired_state_edited_by_an_admin_is_drift_at_the_next_sync(applied, cluster):
    sync_usage(cluster)
    applied.quotas[0]["hard"]["pods"] = "60"
    applied.save()

    sync_usage(cluster)

    applied.refresh_from_db()
    assert applied.drift == {"quotas": {"ml-research-quota": {"pods": {"desired": "60", "observed": "50"}}}}


def test_a_quota_key_removed_on_the_cluster_gets_a_closing_sample_of_zero(applied, cluster, core):
    sync_usage(cluster)
    core.patch_namespaced_resource_quota("ml-research-quota", applied.name, {"spec": {"hard": {"pods": None}}})

    sync_usage(cluster)

    last = UsageSample.objects.filter(namespace=applied, resource="pods").order_by("time").last()
    assert (last.hard, last.used) == (0, 0)
    assert UsageSample.objects.filter(namespace=applied, resource="pods").count() == 2


def test_changes_do_not_postpone_the_heartbeat_of_the_keys_that_did_not_change(applied, cluster, core, settings):
    """A busy namespace still gets a sample of every key each heartbeat period (chargeback needs no gap)."""
    period = heartbeat_period(applied.pk, settings.USAGE_HEARTBEAT_SECONDS)
    start = timezone.now()
    sync_usage(cluster, now=start)

    def samples_at(moment) -> set[str]:
        return set(UsageSample.objects.filter(namespace=applied, time=moment).values_list("resource", flat=True))

    for share, pods in ((0.4, "500"), (0.7, "501"), (0.95, "502")):
        core.patch_namespaced_resource_quota(
            "ml-research-quota", applied.name, {"spec": {"hard": {"pods": pods}}}, field_manager="kubectl-edit"
        )
        sync_usage(cluster, now=start + period * share)
        assert "pods" in samples_at(start + period * share)
    sync_usage(cluster, now=start + period + timedelta(minutes=1))

    assert samples_at(start + period + timedelta(minutes=1)) == set(applied.quotas[0]["hard"])


def drift_events(namespace: TeamNamespace) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(verb="namespace.drift_detected", target=namespace.audit_target))


def test_drift_is_flagged_only_when_the_next_sync_sees_it_too(applied, cluster, core):
    core.patch_namespaced_resource_quota(
        "ml-research-quota", applied.name, {"spec": {"hard": {"pods": "500"}}}, field_manager="kubectl-edit"
    )

    first = sync_usage(cluster)
    applied.refresh_from_db()
    first_seen = (applied.is_drifted, applied.drift, drift_events(applied))
    second = sync_usage(cluster)  # nothing moved on the cluster, yet the namespace is checked again
    applied.refresh_from_db()

    difference = {"quotas": {"ml-research-quota": {"pods": {"desired": "50", "observed": "500"}}}}
    assert (first.drifted, first_seen) == ([], (False, difference, []))
    assert (second.checked, second.drifted) == (1, [applied.name])
    assert (applied.is_drifted, applied.drift) == (True, difference)
    assert [event.after["drift"] for event in drift_events(applied)] == [difference]


def test_a_difference_the_next_sync_no_longer_sees_is_never_flagged(applied, cluster, core):
    """What a stale read of the watch cache looks like: one cycle sees a state the next one does not."""
    core.patch_namespaced_resource_quota(
        "ml-research-quota", applied.name, {"spec": {"hard": {"pods": "500"}}}, field_manager="kubectl-edit"
    )
    first = sync_usage(cluster)
    core.patch_namespaced_resource_quota(
        "ml-research-quota", applied.name, {"spec": {"hard": {"pods": "50"}}}, field_manager="kubectl-edit"
    )

    second = sync_usage(cluster)
    third = sync_usage(cluster)

    applied.refresh_from_db()
    assert (first.drifted, second.drifted, third.drifted) == ([], [], [])
    assert (applied.is_drifted, applied.drift, drift_events(applied)) == (False, {}, [])


def test_a_quota_that_moves_is_checked_and_the_others_are_not(applied, cluster, core, world, unique_name):
    other = world.namespace("ml-research")
    other.pk, other.name = None, unique_name("still")
    other.save()
    applying.apply_namespace(other)
    for namespace in (applied, other):
        wait_quota_settled(core, namespace.name, "ml-research-quota")
    sync_usage(cluster)
    synced_other = TeamNamespace.objects.get(pk=other.pk).last_synced_at

    core.create_namespaced_pod(applied.name, pod_manifest("moves-usage", gpus=1))
    wait_until(
        lambda: quota_used(core, applied.name, "ml-research-quota").get("requests.nvidia.com/gpu") == "1",
        timeout=60,
        what="the quota controller to count the pod",
    )
    moved = sync_usage(cluster)

    applied.refresh_from_db()
    assert moved.checked == 1
    assert applied.observed_quotas["ml-research-quota"]["used"]["requests.nvidia.com/gpu"] == "1"
    assert TeamNamespace.objects.get(pk=other.pk).last_synced_at == synced_other
