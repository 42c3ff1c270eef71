"""Leases of the periodic tasks: held while their holder works, never for long after it fails."""

import logging
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from provisioning.locks import task_lock
from provisioning.models import ClusterConnection, TaskLock
from provisioning.tasks import sync_cluster_usage, sync_usage
from tests.kube import wait_until

pytestmark = [pytest.mark.cluster]

LOCK = "provisioning.sync_usage"


@pytest.fixture
def interval(settings) -> int:
    """Beat sends the usage sync every 3 s: its lease lasts 1 s unless renewed."""
    seconds = 3
    schedule = {**settings.CELERY_BEAT_SCHEDULE}
    schedule["sync-usage"] = {**schedule["sync-usage"], "schedule": seconds}
    settings.CELERY_BEAT_SCHEDULE = schedule
    return seconds


@pytest.mark.django_db(transaction=True)
def test_a_lease_is_renewed_while_its_holder_works(interval):
    with task_lock(LOCK) as held:
        time.sleep(interval)  # three times the lease's length
        with task_lock(LOCK) as second:
            assert held
            assert not second

    with task_lock(LOCK) as after:
        assert after


@pytest.mark.django_db
def test_a_skipped_sync_is_a_warning_once_the_last_completed_one_is_older_than_an_interval(
    world, cluster, interval, caplog
):
    with task_lock(LOCK, cluster.name):
        pass  # one completed sync, just now
    with caplog.at_level(logging.INFO, logger="provisioning.locks"), task_lock(LOCK, cluster.name):
        recent = sync_cluster_usage.apply((cluster.pk,)).get()
        TaskLock.objects.filter(name=f"{LOCK}:{cluster.name}").update(
            completed_at=timezone.now() - timedelta(seconds=2 * interval)
        )
        stale = sync_cluster_usage.apply((cluster.pk,)).get()

    assert recent == stale == "skipped: another sync of this cluster holds the lock"
    skips = [r for r in caplog.records if r.message == "lease.skipped"]
    assert [r.levelname for r in skips] == ["INFO", "WARNING"]
    assert skips[1].seconds_since_completed >= 2 * interval


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL backends; CI runs on PostgreSQL")
def test_a_database_outage_mid_sync_leaves_no_gap_longer_than_one_interval(world, proxy, worker, interval, caplog):
    """The worker's database connections are cut while a sync holds the lease, so its release fails too.

    Before, the lease then blocked every sync for its whole TTL (four intervals); now the sync beat sends
    one interval later runs.
    """
    forwarder, cluster = proxy
    sync_usage.delay()
    first = wait_until(
        lambda: ClusterConnection.objects.filter(cluster=cluster, last_synced_at__isnull=False).first(),
        timeout=60,
        what="a first sync",
    )
    forwarder.hang()  # the next sync's LIST waits for an answer, holding the lease

    with caplog.at_level(logging.INFO):
        beat = time.monotonic()
        sync_usage.delay()
        held = TaskLock.objects.filter(name=f"{LOCK}:{cluster.name}").exclude(owner="")
        wait_until(held.exists, timeout=30, what="a lease")
        wait_until(lambda: forwarder.connections > 0, timeout=30, what="the sync to call the API server")
        _terminate_other_connections()  # what a PostgreSQL restart does to the worker's connections
        forwarder.refuse()  # the LIST fails; writing the cluster's health and releasing the lease fail too
        wait_until(
            lambda: any(r.message == "lease.release_failed" for r in caplog.records),
            timeout=30,
            what="the release to fail",
        )
        forwarder.forward()
        time.sleep(max(0.0, beat + interval - time.monotonic()))
        sync_usage.delay()  # beat, one interval after the sync that failed
        wait_until(
            lambda: ClusterConnection.objects.get(cluster=cluster).last_synced_at > first.last_synced_at,
            timeout=30,
            what="the next sync",
        )

    assert [r.message for r in caplog.records if r.message == "lease.skipped"] == []
    assert ClusterConnection.objects.get(cluster=cluster).health == ClusterConnection.Health.OK


def _terminate_other_connections() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
