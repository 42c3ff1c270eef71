"""Two real control planes at once: every namespace belongs to its cluster, and one cluster's
trouble is never another's.

Cluster A is the shared local cluster; cluster B is a throwaway control plane started for this
module (its own ports, state dir and two simulated GPU nodes), stopped and started again by the
last test.
"""

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from kubernetes import config
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import floor_hour
from provisioning.models import ClusterConnection, UsageSample
from provisioning.sync import sync_capacity, sync_usage
from provisioning.tasks import sync_usage as sync_usage_task
from teams import workflow
from teams.models import Request, TeamNamespace
from tests.clusters import connect
from tests.control_plane import ControlPlane
from tests.kube import WORKER_CONTEXT, wait_until
from tests.requests import ask_for_namespace
from tests.worker import worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

State = Request.State


@pytest.fixture(scope="module")
def plane_b(tmp_path_factory) -> Iterator[ControlPlane]:
    plane = ControlPlane.in_directory(tmp_path_factory.mktemp("cluster-b"), nodes=2, gpus_per_node=8)
    try:
        plane.up()
        yield plane
    finally:
        plane.tear_down()


@pytest.fixture(scope="module")
def core_b(plane_b) -> Iterator[CoreV1Api]:
    api = config.new_client_from_config(config_file=str(plane_b.kubeconfig), context="gpu-portal-admin")
    yield CoreV1Api(api)
    api.close()


@pytest.fixture
def cluster_b(world, plane_b):
    return connect("gpu-b", kubeconfig_path=str(plane_b.kubeconfig), context=WORKER_CONTEXT)


def exists(core: CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def approved_and_applied(world, name: str, cluster) -> TeamNamespace:
    request = ask_for_namespace(world, name, cluster=cluster)
    workflow.approve_request(request.pk, actor=world.approver)

    def applied() -> Request | None:
        current = Request.objects.get(pk=request.pk)
        return current if current.state in (State.APPLIED, State.FAILED) else None

    request = wait_until(applied, timeout=90, what=f"{name} on {cluster} to be applied")
    assert (request.state, request.last_error) == (State.APPLIED, "")
    return TeamNamespace.objects.select_related("cluster").get(pk=request.namespace_id)


def test_a_request_for_cluster_b_is_applied_to_b_and_the_same_name_on_a_is_another_namespace(
    world, cluster, cluster_b, core, core_b, sign_in, worker, unique_name
):
    name = unique_name("twin")

    on_b = approved_and_applied(world, name, cluster_b)

    assert exists(core_b, name)
    assert not exists(core, name)
    on_a = approved_and_applied(world, name, cluster)
    assert exists(core, name)
    assert on_a.pk != on_b.pk
    assert (on_a.cluster.name, on_b.cluster.name) == ("local", "gpu-b")
    # Each has its own quota: raising B's changes nothing on A.
    quotas = [{**on_b.quotas[0], "hard": {**on_b.quotas[0]["hard"], "requests.nvidia.com/gpu": "12"}}]
    change = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=on_b,
        proposed={"quotas": quotas},
        justification="More GPUs on B.",
    )
    workflow.approve_request(change.pk, actor=world.approver)
    wait_until(
        lambda: core_b.read_namespaced_resource_quota("ml-research-quota", name).spec.hard["requests.nvidia.com/gpu"]
        == "12",
        timeout=60,
        what="B's quota to change",
    )
    assert core.read_namespaced_resource_quota("ml-research-quota", name).spec.hard["requests.nvidia.com/gpu"] == "8"
    # Pages and the API tell them apart by cluster.
    lead = sign_in("research-lead")
    assert lead.get(f"/api/v1/namespaces/gpu-b/{name}/").json()["cluster"] == "gpu-b"
    assert lead.get(f"/api/v1/namespaces/{name}/").json()["cluster"] == "local"  # a name alone: the default
    assert lead.get(on_b.get_absolute_url()).status_code == 200
    assert lead.get(f"/namespaces/{name}/").url == on_a.get_absolute_url()  # links from before clusters


def test_a_sync_of_one_cluster_leaves_the_other_clusters_namespaces_alone(
    world, cluster, cluster_b, core, core_b, worker, unique_name
):
    on_b = approved_and_applied(world, unique_name("only-b"), cluster_b)
    sync_usage(cluster_b)
    before = TeamNamespace.objects.get(pk=on_b.pk)
    samples_before = UsageSample.objects.filter(namespace=on_b).count()

    result = sync_usage(cluster)

    after = TeamNamespace.objects.get(pk=on_b.pk)
    assert on_b.name not in result.drifted
    assert (after.phase, after.last_synced_at, after.observed_quotas) == (
        before.phase,
        before.last_synced_at,
        before.observed_quotas,
    )
    assert after.phase == TeamNamespace.Phase.ACTIVE  # not "missing", though cluster A has no such namespace
    assert UsageSample.objects.filter(namespace=on_b).count() == samples_before
    assert not UsageSample.objects.filter(namespace=on_b, cluster=cluster).exists()


def test_with_a_queue_per_cluster_a_worker_near_cluster_b_applies_what_is_asked_of_b(
    world, cluster_b, core_b, settings, tmp_path, unique_name
):
    settings.PROVISIONING_QUEUE_PER_CLUSTER = True
    name = unique_name("queued")
    request = ask_for_namespace(world, name, cluster=cluster_b)

    with worker_process(tmp_path / "worker-b.log", queues="cluster.gpu-b", PROVISIONING_QUEUE_PER_CLUSTER="1"):
        workflow.approve_request(request.pk, actor=world.approver)
        wait_until(lambda: Request.objects.get(pk=request.pk).state == State.APPLIED, timeout=90, what="the apply on B")

    assert exists(core_b, name)
    assert "provisioning.apply_request" in (tmp_path / "worker-b.log").read_text()


def test_approval_weighs_guaranteed_gpus_against_the_requests_own_cluster(world, cluster, cluster_b):
    # A has 64 GPUs and guarantees 24 (the seed); B has 16 and, once the first namespace there is approved, 8.
    sync_capacity(cluster_b)
    ClusterConnection.objects.filter(cluster=cluster).update(gpu_capacity=64, capacity_synced_at=timezone.now())
    workflow.approve_request(ask_for_namespace(world, "first-on-b", cluster=cluster_b).pk, actor=world.approver)
    spec = ask_for_namespace(world, "wide-on-b", cluster=cluster_b).proposed_spec
    for key in ("requests.nvidia.com/gpu", "limits.nvidia.com/gpu"):
        if key in spec["quotas"][0]["hard"]:
            spec["quotas"][0]["hard"][key] = "12"  # fits the 40 free on A and the 48 free in all, not the 8 left on B
    wide = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CREATE_NAMESPACE,
        namespace_name="wider-on-b",
        cluster=cluster_b,
        proposed=spec,
        justification="Twelve GPUs for the vision group.",
    )

    with pytest.raises(workflow.CapacityExceeded) as refused:
        workflow.approve_request(wide.pk, actor=world.approver)

    assert (refused.value.impact.cluster, refused.value.impact.capacity) == ("gpu-b", 16)
    assert (refused.value.impact.guaranteed_now, refused.value.impact.guaranteed_after) == (8, 20)
    assert Request.objects.get(pk=wide.pk).state == State.PENDING


def test_chargeback_by_cluster_bills_each_cluster_the_gpu_hours_its_own_syncs_saw(
    world, cluster, cluster_b, worker, unique_name
):
    """The same namespace name on A and B, 8 guaranteed GPUs each, synced on each cluster at three hours:
    by hand, 2 h x 8 = 16 reserved GPU-hours on each cluster, and each cluster's total is its namespaces'."""
    name = unique_name("billed")
    on_a, on_b = approved_and_applied(world, name, cluster), approved_and_applied(world, name, cluster_b)
    start = floor_hour(timezone.now()) - timedelta(hours=3)
    for hour in range(3):  # a sync stamps what it reads with `now`; a heartbeat samples every key each hour
        for where in (cluster, cluster_b):
            sync_usage(where, now=start + timedelta(hours=hour))
    end = start + timedelta(hours=2)

    def report(group_by: str, where: str | None = None) -> dict:
        query = ReportQuery(start=start, end=end, group_by=group_by, cluster=where)
        return build_report(query, viewer=world.finance, now=end)

    by_namespace = report("namespace")["rows"]
    reserved = {(row["cluster"], row["group"]): Decimal(row["gpu_reserved_hours"]) for row in by_namespace}
    assert (reserved[("local", name)], reserved[("gpu-b", name)]) == (16, 16)
    for where in ("local", "gpu-b"):
        [total] = report("cluster", where)["rows"]
        parts = [row for row in by_namespace if row["cluster"] == where]
        assert Decimal(total["gpu_reserved_hours"]) == sum(Decimal(row["gpu_reserved_hours"]) for row in parts)
        assert Decimal(total["cost_total"]) == sum(Decimal(row["cost_total"]) for row in parts)
    assert UsageSample.objects.filter(namespace=on_b).exclude(cluster=cluster_b).count() == 0
    assert UsageSample.objects.filter(namespace=on_a).exclude(cluster=cluster).count() == 0


def test_a_stopped_cluster_writes_no_samples_and_stops_no_other_and_recovers_by_itself(
    world, cluster, cluster_b, plane_b, core, sign_in, worker, unique_name
):
    on_b = approved_and_applied(world, unique_name("down-b"), cluster_b)
    sync_usage(cluster_b)
    seen = TeamNamespace.objects.get(pk=on_b.pk)
    samples = UsageSample.objects.filter(namespace=on_b).count()
    last_seen = ClusterConnection.objects.get(cluster=cluster_b).last_synced_at

    plane_b.stop()
    try:
        sync_usage_task.delay()
        wait_until(
            lambda: ClusterConnection.objects.get(cluster=cluster_b).health == ClusterConnection.Health.UNREACHABLE,
            timeout=90,
            what="B to be seen unreachable",
        )
        # A goes on: its namespaces are synced and a new one is applied while B is down.
        on_a = approved_and_applied(world, unique_name("up-a"), cluster)
        assert exists(core, on_a.name)
        wait_until(
            lambda: ClusterConnection.objects.get(cluster=cluster).health == ClusterConnection.Health.OK,
            timeout=60,
            what="A to be synced",
        )
        # B's namespace: unknown is not zero, so no sample is written and its last values stay.
        assert UsageSample.objects.filter(namespace=on_b).count() == samples
        still = TeamNamespace.objects.get(pk=on_b.pk)
        assert (still.phase, still.last_synced_at, still.observed_quotas) == (
            seen.phase,
            seen.last_synced_at,
            seen.observed_quotas,
        )
        # The pages keep working, and say B's usage is from when it was last seen.
        page = sign_in("research-lead").get(on_b.get_absolute_url())
        assert page.status_code == 200
        assert "is unreachable: last seen" in page.content.decode()
        overview = sign_in("approver").get(reverse("cluster-overview"))
        assert overview.status_code == 200
        assert "Unreachable" in overview.content.decode()
    finally:
        plane_b.up()

    # B recovers by itself: the next periodic sync finds it again.
    def recovered() -> bool:
        sync_usage_task.delay()
        return ClusterConnection.objects.get(cluster=cluster_b).health == ClusterConnection.Health.OK

    wait_until(recovered, timeout=120, interval=3, what="B to be synced again")
    # A sync writes a namespace's row only when it moved (provisioning.sync): the cluster's sync is the news.
    assert ClusterConnection.objects.get(cluster=cluster_b).last_synced_at > last_seen
    assert "is unreachable" not in sign_in("research-lead").get(on_b.get_absolute_url()).content.decode()
