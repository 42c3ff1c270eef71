"""A real Prometheus (Debian's package, `make prometheus`) scrapes the running portal and answers PromQL.

The portal serves from pytest-django's live server; a real Celery worker applies an approval
on the local cluster and syncs usage back; Prometheus scrapes /metrics every second with the
bearer token, with the example alert rules loaded.
"""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from provisioning.models import ClusterConnection
from provisioning.tasks import sync_capacity, sync_usage
from teams import workflow
from teams.capacity import CapacityTotals
from teams.models import Request
from tests.kube import REPO_ROOT, wait_quota_synced, wait_until
from tests.monitoring.conftest import free_port
from tests.requests import ask_for_gpus, ask_for_namespace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
TOKEN = "prometheus-scrape-token"


class Prometheus:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def query(self, promql: str) -> list[dict]:
        """The instant vector PromQL answers, as [{metric: labels, value: float}]."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=10) as response:
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return [{"metric": item["metric"], "value": float(item["value"][1])} for item in answer["data"]["result"]]

    def value(self, promql: str) -> float:
        result = self.query(promql)
        assert len(result) == 1, f"{promql} answered {result}"
        return result[0]["value"]

    def rule_groups(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v1/rules", timeout=10) as response:
            return json.load(response)["data"]["groups"]


@pytest.fixture
def prometheus(live_server, settings, tmp_path: Path) -> Iterator[Prometheus]:
    """Prometheus scraping the live portal every second, with the token, until the test ends."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Debian's prometheus package is not installed: run `make prometheus`")
    settings.METRICS_TOKEN = TOKEN
    target = urllib.parse.urlsplit(live_server.url).netloc
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "gpu-portal",
                "static_configs": [{"targets": [target]}],
                "authorization": {"type": "Bearer", "credentials": TOKEN},
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    try:
        yield Prometheus(port)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_prometheus_reads_what_an_approval_applied_and_a_sync_observed(
    world, cluster, core, worker, unique_name, prometheus
):
    # Given an approval applied by the worker on the local cluster, then usage and capacity synced back.
    applied = ask_for_namespace(world, unique_name("prom"))
    workflow.approve_request(applied.pk, actor=world.approver)
    wait_until(lambda: Request.objects.get(pk=applied.pk).state == Request.State.APPLIED, timeout=60, what="the apply")
    wait_quota_synced(core, applied.namespace_name, "ml-research-quota")
    sync_usage.delay()
    sync_capacity.delay()
    wait_until(
        lambda: ClusterConnection.objects.filter(
            cluster=cluster, last_synced_at__isnull=False, capacity_synced_at__isnull=False
        ),
        timeout=60,
        what="usage and capacity to be synced",
    )
    # And a request still waiting for an approver.
    ask_for_gpus(world, world.namespace("ml-research"), "10")
    capacity = ClusterConnection.objects.get(cluster=cluster).gpu_capacity
    guaranteed = CapacityTotals().of(cluster.pk).guaranteed

    set_up = time.time()

    # When Prometheus has scraped the portal since all that happened.
    wait_until(
        lambda: prometheus.query(f'up{{job="gpu-portal"}} == 1 and timestamp(up{{job="gpu-portal"}}) > {set_up}'),
        timeout=60,
        what="a successful scrape after the set-up",
    )

    # Then PromQL answers what was approved, applied, synced and asked for.
    namespace = f'namespace="{applied.namespace_name}"'
    hard = prometheus.query(f"gpu_portal_namespace_gpu_hard{{{namespace}}}")
    assert [(series["metric"]["team"], series["metric"]["tier"], series["value"]) for series in hard] == [
        ("research", "high-priority", 8)
    ]
    assert prometheus.value(f"gpu_portal_namespace_gpu_used{{{namespace}}}") == 0
    assert prometheus.value("sum(gpu_portal_requests_pending)") == 1
    assert prometheus.value('gpu_portal_requests_pending{kind="change_quota", age="under_1h"}') == 1
    assert prometheus.value("gpu_portal_approve_to_applied_seconds_count") == 1
    assert prometheus.value('gpu_portal_cluster_usage_sync_age_seconds{cluster="local"}') < 120
    assert prometheus.value('gpu_portal_cluster_gpu_capacity{cluster="local"}') == float(capacity)
    assert prometheus.value('gpu_portal_cluster_gpu_guaranteed{cluster="local"}') == guaranteed == 32
    assert prometheus.value("sum(gpu_portal_apply_failures_total)") == 0
    assert prometheus.value("gpu_portal_celery_broker_up") == 1
    # And the example alert rules loaded into this Prometheus and evaluate without error.
    assert {rule["name"] for rule in _rules(prometheus)} >= {
        "GpuPortalUsageSyncStale",
        "GpuPortalApplyFailures",
        "GpuPortalRequestsWaitingOverADay",
        "GpuPortalClusterOvercommitted",
    }
    wait_until(
        lambda: all(rule.get("health") == "ok" for rule in _rules(prometheus)), timeout=30, what="rules to evaluate"
    )


def _rules(prometheus: Prometheus) -> list[dict]:
    return [rule for group in prometheus.rule_groups() for rule in group["rules"]]
