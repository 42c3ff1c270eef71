"""Pods the quota refused: a real Job and ReplicaSet beyond the quota, read back by the real sync."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from kubernetes.client import AppsV1Api, BatchV1Api

from provisioning.cluster import ClusterGateway, RefusalEvent
from provisioning.models import QuotaRefusal
from provisioning.refusals import parse_message, store_refusals
from provisioning.sync import sync_usage
from tests.kube import pod_manifest, quota_used, wait_until

GPU_KEY = "requests.nvidia.com/gpu"


def test_the_api_servers_message_is_parsed_into_quota_key_and_amounts():
    message = (
        'Error creating: pods "train-x7k2p" is forbidden: exceeded quota: ml-research-quota, '
        "requested: limits.cpu=2,requests.nvidia.com/gpu=4, used: limits.cpu=1,requests.nvidia.com/gpu=8, "
        "limited: limits.cpu=64,requests.nvidia.com/gpu=8"
    )

    assert parse_message(message) == {
        "quota": "ml-research-quota",
        "requested": {"limits.cpu": "2", GPU_KEY: "4"},
        "used": {"limits.cpu": "1", GPU_KEY: "8"},
        "limited": {"limits.cpu": "64", GPU_KEY: "8"},
        "resource": GPU_KEY,
    }
    assert parse_message('Error creating: pods "x" is forbidden: error looking up service account') is None


def _template(gpus: int, restart: str) -> dict:
    pod = pod_manifest("main", gpus=gpus, priority_class="ml-high")
    pod["spec"]["restartPolicy"] = restart
    return {"metadata": {"labels": {"app": "refused"}}, "spec": pod["spec"]}


def _listed(cluster, namespace: str) -> dict[str, int]:
    """involved object name -> sum of its FailedCreate "exceeded quota" Event counts, as the API server lists them."""
    with ClusterGateway(cluster) as gateway:
        events = [event for event in gateway.list_quota_refusals() if event.namespace == namespace]
    totals: dict[str, int] = {}
    for event in events:
        totals[event.object_name] = totals.get(event.object_name, 0) + event.count
    return totals


def _stable(cluster, namespace: str) -> dict[str, int]:
    """The listed counts once they stop moving for 3 s (the controllers were deleted)."""
    previous = None
    while True:
        current = _listed(cluster, namespace)
        if current == previous:
            return current
        previous = current
        time.sleep(3)


@pytest.mark.django_db
@pytest.mark.cluster
def test_refused_pods_are_stored_once_per_controller_with_the_numbers(applied, cluster, core, admin_api):
    batch, apps = BatchV1Api(admin_api), AppsV1Api(admin_api)
    # Two pods of 4 GPUs fill the 8; the Job's third is refused, and so is every pod of the ReplicaSet.
    batch.create_namespaced_job(
        applied.name,
        {
            "metadata": {"name": "train"},
            "spec": {"parallelism": 3, "completions": 3, "template": _template(4, "Never")},
        },
    )
    wait_until(
        lambda: quota_used(core, applied.name, "ml-research-quota").get(GPU_KEY) == "8",
        timeout=60,
        what="the Job's first two pods to take the 8 GPUs",
    )
    apps.create_namespaced_replica_set(
        applied.name,
        {
            "metadata": {"name": "serve"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "refused"}},
                "template": _template(1, "Always"),
            },
        },
    )
    wait_until(
        lambda: set(_listed(cluster, applied.name)) == {"train", "serve"},
        timeout=60,
        what="the controllers to record exceeded quota",
    )

    first = sync_usage(cluster)

    rows = {row.object_name: row for row in QuotaRefusal.objects.filter(namespace=applied)}
    assert set(rows) == {"train", "serve"}
    assert first.api_calls == 3
    train, serve = rows["train"], rows["serve"]
    assert (train.object_kind, train.quota_name, train.resource) == ("Job", "ml-research-quota", GPU_KEY)
    assert (train.requested[GPU_KEY], train.used[GPU_KEY], train.limited[GPU_KEY]) == ("4", "8", "8")
    assert train.suggested == "12"
    assert (serve.object_kind, serve.requested[GPU_KEY], serve.suggested) == ("ReplicaSet", "1", "9")
    assert train.count >= 1
    assert serve.count >= 1
    assert train.first_seen <= train.last_seen

    # The controllers keep retrying; stop them, then a second cycle updates the counts in place.
    wait_until(
        lambda: sum(_listed(cluster, applied.name).values()) > train.count + serve.count,
        timeout=60,
        what="the controllers to retry",
    )
    batch.delete_namespaced_job("train", applied.name, propagation_policy="Background")
    apps.delete_namespaced_replica_set("serve", applied.name, propagation_policy="Background")
    listed = _stable(cluster, applied.name)

    sync_usage(cluster)
    sync_usage(cluster)

    again = {row.object_name: row for row in QuotaRefusal.objects.filter(namespace=applied)}
    assert {name: row.count for name, row in again.items()} == listed
    assert sum(listed.values()) > train.count + serve.count
    assert {name: row.pk for name, row in again.items()} == {"train": train.pk, "serve": serve.pk}


@pytest.mark.django_db
def test_an_expired_event_keeps_its_count_and_old_refusals_are_pruned(world, cluster):
    """The API server deletes Events after an hour: their counts stay in the total; after 30 days the row goes."""
    namespace = world.namespace("ml-research")
    message = (
        'Error creating: pods "train-a" is forbidden: exceeded quota: ml-research-quota, '
        "requested: requests.nvidia.com/gpu=4, used: requests.nvidia.com/gpu=8, limited: requests.nvidia.com/gpu=8"
    )

    def event(uid: str, count: int, at: str) -> RefusalEvent:
        return RefusalEvent(uid, namespace.name, "Job", "train", "job-uid", message, count, at, at)

    now = timezone.now()
    store_refusals(cluster, [event("e1", 5, "2026-12-01T10:00:00Z")], {namespace.name: namespace.pk}, now)
    store_refusals(
        cluster,
        [event("e1", 7, "2026-12-01T10:05:00Z"), event("e2", 2, "2026-12-01T10:06:00Z")],
        {namespace.name: namespace.pk},
        now,
    )
    store_refusals(cluster, [event("e2", 3, "2026-12-01T10:09:00Z")], {namespace.name: namespace.pk}, now)
    refusal = QuotaRefusal.objects.get()
    assert refusal.count == 7 + 3
    assert (refusal.first_seen.isoformat(), refusal.last_seen.isoformat()) == (
        "2026-12-01T10:00:00+00:00",
        "2026-12-01T10:09:00+00:00",
    )

    store_refusals(cluster, [], {namespace.name: namespace.pk}, now)
    assert QuotaRefusal.objects.get().count == 10
    store_refusals(cluster, [], {}, refusal.last_seen + QuotaRefusal.RETENTION + timedelta(seconds=1))
    assert not QuotaRefusal.objects.exists()
