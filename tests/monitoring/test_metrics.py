"""/metrics as Prometheus reads it: the numbers the pages show, from a fixed number of queries."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from provisioning.models import Cluster
from teams import workflow
from teams.events import system_actor
from teams.models import Request, TeamNamespace
from tests.requests import ask_for_gpus, ask_for_namespace

pytestmark = pytest.mark.django_db

State = Request.State


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def observe(namespace: TeamNamespace, used: str | None, hard: str) -> None:
    """What a sync stores for a namespace whose one quota holds `used` of `hard` GPUs."""
    quota = namespace.quotas[0]["name"]
    hard_values = {**namespace.quotas[0]["hard"], "requests.nvidia.com/gpu": hard}
    used_values = None if used is None else {key: "0" for key in hard_values} | {"requests.nvidia.com/gpu": used}
    TeamNamespace.objects.filter(pk=namespace.pk).update(
        observed_quotas={quota: {"hard": hard_values, "used": used_values}}
    )


# Who may read them.


def test_with_a_token_set_metrics_need_it_as_a_bearer_token(client, settings, db):
    settings.METRICS_TOKEN = "s3cret-scrape-token"

    anonymous = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guessed")
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")

    assert (anonymous.status_code, anonymous["WWW-Authenticate"]) == (401, 'Bearer realm="metrics"')
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert b"gpu_portal_requests_pending" in right.content


def test_without_a_token_metrics_are_refused_unless_declared_public(client, settings, db):
    settings.METRICS_TOKEN = ""
    settings.METRICS_PUBLIC = False
    refused = client.get("/metrics", HTTP_HOST="10.244.1.17:8000")
    settings.METRICS_PUBLIC = True
    served = client.get("/metrics", HTTP_HOST="10.244.1.17:8000")

    assert refused.status_code == 403
    assert "set METRICS_TOKEN" in refused.content.decode()
    assert served.status_code == 200


def test_prometheus_asking_for_openmetrics_gets_openmetrics(client, db):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")

    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.endswith(b"# EOF\n")


# What they say.


def test_pending_requests_are_counted_by_kind_and_by_how_long_they_have_waited(client, world):
    fresh = ask_for_namespace(world, "fresh-one")
    ask_for_namespace(world, "two-days-old")
    Request.objects.filter(namespace_name="two-days-old").update(created_at=timezone.now() - timedelta(days=2))
    quota = ask_for_gpus(world, world.namespace("ml-research"), "10")
    Request.objects.filter(pk=quota.pk).update(created_at=timezone.now() - timedelta(hours=3))
    workflow.reject_request(ask_for_namespace(world, "rejected").pk, actor=world.approver, note="No budget.")

    metrics = scrape(client)

    def pending(kind: str, age: str) -> float:
        return metrics[("gpu_portal_requests_pending", (("age", age), ("kind", kind)))]

    assert fresh.state == State.PENDING
    assert pending("create_namespace", "under_1h") == 1
    assert pending("create_namespace", "1d_to_7d") == 1
    assert pending("change_quota", "1h_to_1d") == 1
    assert pending("change_tier", "under_1h") == 0
    assert sum(value for (name, _), value in metrics.items() if name == "gpu_portal_requests_pending") == 3


def test_approve_to_applied_seconds_and_failures_by_reason_come_from_the_events(
    client, world, django_capture_on_commit_callbacks
):
    slow, failing, conflicting = (ask_for_namespace(world, name) for name in ("slow", "failing", "conflicting"))
    system = system_actor()
    with django_capture_on_commit_callbacks(execute=True):
        for request in (slow, failing, conflicting):
            workflow.approve_request(request.pk, actor=world.approver)
            workflow.mark_applying(request.pk, actor=system)
        Request.objects.filter(pk=slow.pk).update(decided_at=timezone.now() - timedelta(seconds=45))
        workflow.mark_applied(slow.pk, actor=system)
        workflow.mark_failed(failing.pk, actor=system, error="Gave up", reason=Request.FailureReason.GAVE_UP)
        workflow.mark_failed(conflicting.pk, actor=system, error="Conflict", reason=Request.FailureReason.CONFLICT)
        workflow.retry_request(conflicting.pk, actor=world.approver)
        workflow.mark_failed(conflicting.pk, actor=system, error="Conflict", reason=Request.FailureReason.CONFLICT)

    metrics = scrape(client)

    def bucket(bound: str) -> float:
        return metrics[("gpu_portal_approve_to_applied_seconds_bucket", (("le", bound),))]

    assert (bucket("30.0"), bucket("60.0"), bucket("+Inf")) == (0, 1, 1)
    assert metrics[("gpu_portal_approve_to_applied_seconds_count", ())] == 1
    assert 45 <= metrics[("gpu_portal_approve_to_applied_seconds_sum", ())] < 60
    assert metrics[("gpu_portal_apply_failures_total", (("reason", "gave_up"),))] == 1
    assert metrics[("gpu_portal_apply_failures_total", (("reason", "conflict"),))] == 2
    assert metrics[("gpu_portal_apply_failures_total", (("reason", "refused"),))] == 0


def test_namespace_gpus_carry_team_cost_center_and_tier_and_unknown_usage_is_absent(client, world):
    observe(world.namespace("ml-research"), used="3", hard="8")
    observe(world.namespace("ml-production"), used=None, hard="16")
    TeamNamespace.objects.filter(name="ml-production").update(is_drifted=True)

    metrics = scrape(client)

    research = (
        ("cost_center", "rd-001"),
        ("namespace", "ml-research"),
        ("team", "research"),
        ("tier", "high-priority"),
    )
    production = (
        ("cost_center", "prod-001"),
        ("namespace", "ml-production"),
        ("team", "platform"),
        ("tier", "critical"),
    )
    assert metrics[("gpu_portal_namespace_gpu_hard", research)] == 8
    assert metrics[("gpu_portal_namespace_gpu_used", research)] == 3
    assert metrics[("gpu_portal_namespace_gpu_hard", production)] == 16
    assert ("gpu_portal_namespace_gpu_used", production) not in metrics  # not yet reported: unknown, not 0
    assert not any(dict(labels).get("namespace") == "ml-experiments" for _, labels in metrics)  # never applied
    assert metrics[("gpu_portal_namespaces_drifted", ())] == 1


def test_clusters_report_sync_age_capacity_and_the_guaranteed_total_the_queue_shows(client, world, cluster):
    now = timezone.now()
    Cluster.objects.filter(pk=cluster.pk).update(
        last_synced_at=now - timedelta(seconds=90), gpu_capacity=20, capacity_synced_at=now
    )
    never = Cluster.objects.create(name="never-synced", kubeconfig_path="/nowhere")

    metrics = scrape(client)

    assert 90 <= metrics[("gpu_portal_cluster_usage_sync_age_seconds", (("cluster", "local"),))] < 120
    assert metrics[("gpu_portal_cluster_usage_sync_age_seconds", (("cluster", never.name),))] == float("inf")
    assert metrics[("gpu_portal_cluster_gpu_capacity", (("cluster", "local"),))] == 20
    assert ("gpu_portal_cluster_gpu_capacity", (("cluster", never.name),)) not in metrics  # capacity unknown
    # The seed guarantees 16 GPUs in ml-production and 8 in ml-research: more than the 20 the cluster has.
    assert metrics[("gpu_portal_cluster_gpu_guaranteed", (("cluster", "local"),))] == 24


def test_a_scrape_takes_as_many_queries_with_ten_times_the_namespaces(client, world, cluster):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            scrape(client)
        return len(captured)

    observe(world.namespace("ml-research"), used="1", hard="8")
    research = world.namespace("ml-research")
    few = queries()
    for index in range(30):
        research.pk, research.name = None, f"copy-{index}"
        research.save()
    many = queries()

    assert TeamNamespace.objects.count() == 33
    assert few == many == 6
    assert scrape(client)[("gpu_portal_namespace_gpu_hard", _labels("copy-29"))] == 8


def _labels(namespace: str) -> tuple:
    return (("cost_center", "rd-001"), ("namespace", namespace), ("team", "research"), ("tier", "high-priority"))


# The Celery queue, on the embedded broker and on Redis.


@pytest.mark.parametrize("broker", ["sqlite", "redis"])
def test_celery_queue_length_counts_the_tasks_waiting_for_a_worker(client, settings, tmp_path, broker, db):
    settings.CELERY_BROKER_URL = {
        "sqlite": f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}",
        "redis": "redis://127.0.0.1:6379/6",
    }[broker]
    with Connection(settings.CELERY_BROKER_URL) as broker_connection:
        queue = broker_connection.SimpleQueue("celery")
        queue.clear()
        empty = scrape(client)[("gpu_portal_celery_queue_length", (("queue", "celery"),))]
        for number in range(3):
            queue.put({"task": number})
        try:
            metrics = scrape(client)
        finally:
            queue.clear()
            queue.close()

    assert empty == 0
    assert metrics[("gpu_portal_celery_queue_length", (("queue", "celery"),))] == 3
    assert metrics[("gpu_portal_celery_broker_up", ())] == 1


def test_an_unreachable_broker_shows_as_down_and_the_rest_is_still_served(client, settings, closed_port, world):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/6"

    metrics = scrape(client)

    assert metrics[("gpu_portal_celery_broker_up", ())] == 0
    assert not any(name == "gpu_portal_celery_queue_length" for name, _ in metrics)
    assert ("gpu_portal_namespaces_drifted", ()) in metrics
