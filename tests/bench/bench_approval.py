"""Approve -> applied latency (issue 4): the workflow, a real Celery worker process on Redis, the real cluster.

In the seed_demo world of a scratch PostgreSQL database, submits `--approvals`
create-namespace requests (100; the seed's ml-research spec under fresh names) one at
a time as the research team's lead, approves each as the approver, and measures from
`approve_request` returning to the request's state `applied` seen in the database
(polled every `--poll` s). The worker is `celery -A portal worker --pool=solo`, a
separate process on the benchmarks' Redis database, consuming a queue of the run's own. Interleaved with every approval,
another fresh namespace gets the same objects through a ClusterGateway directly (the
task's cluster work alone), so the share of the latency spent in API calls is
measured side by side.
"""

import argparse
import copy
import shutil
import socket
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from django.contrib.auth import get_user_model

from portal.celery import app as celery_app
from provisioning import applying
from provisioning.cluster import ClusterGateway
from teams import workflow
from teams.catalog import TierCatalog
from teams.demo import seed_demo
from teams.models import AuditEvent, Cluster, Request, Team, TeamNamespace
from tests.bench._cluster import BENCH_LABEL, admin_client, bench_namespaces, run_selector, wait_for_earlier_runs
from tests.bench._database import scratch_database
from tests.bench._report import heading, median, ms, percentile, table
from tests.bench._worker import celery_worker

State = Request.State


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only approval", description=__doc__.split("\n")[0])
    parser.add_argument("--approvals", type=int, default=100, help="measured approvals (default 100)")
    parser.add_argument("--warmup", type=int, default=3, help="approvals before measuring, not counted (default 3)")
    parser.add_argument("--poll", type=float, default=0.02, help="seconds between reads of the request's state")
    parser.add_argument("--timeout", type=float, default=60, help="seconds one approval may take to be applied")
    parser.add_argument(
        "--cleanup-wait", type=float, default=300, help="seconds to wait at the end for the namespaces to be gone"
    )
    options, _ = parser.parse_known_args(argv)

    run_id = uuid.uuid4().hex[:6]
    admin = admin_client()
    wait_for_earlier_runs(admin, timeout=900)
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-approval-{run_id}-"))
    print(
        f"run {run_id}: {options.approvals} approvals after {options.warmup} unmeasured, polling every "
        f"{options.poll * 1000:.0f} ms; namespaces labelled {run_selector(run_id)}; worker log in {log_dir}"
    )
    # A queue of this run's own, so that runs sharing the Redis database cannot take each other's tasks.
    queue, default_queue = f"bench-{run_id}", celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        with (
            scratch_database("approval") as database_url,
            bench_namespaces(admin, run_id, wait=options.cleanup_wait),
            celery_worker(database_url, queue, f"bench-{run_id}@{socket.gethostname()}", log_dir / "worker.log"),
        ):
            ApprovalBenchmark(run_id, options).run()
    finally:
        celery_app.conf.task_default_queue = default_queue
        admin.close()
    shutil.rmtree(log_dir)  # kept only when the run failed


class ApprovalBenchmark:
    def __init__(self, run_id: str, options: argparse.Namespace) -> None:
        self.run_id = run_id
        self.options = options
        seed_demo()
        users = get_user_model().objects
        self.lead = users.get(username="research-lead")
        self.approver = users.get(username="approver")
        self.team = Team.objects.select_related("cost_center").get(slug="research")
        template = TeamNamespace.objects.select_related("tier").get(name="ml-research")
        self.tier = template.tier
        self.catalog = TierCatalog.load()
        self.spec = {
            "tier": template.tier.slug,
            "quotas": template.quotas,
            "limitRange": template.limit_range,
            "labels": {BENCH_LABEL: run_id},
        }
        # The row the worker reads too: Cluster.objects.get_default() from settings.KUBECONFIG/KUBE_CONTEXT.
        self.cluster = Cluster.objects.get_default()

    def run(self) -> None:
        with ClusterGateway(self.cluster) as self.warm_gateway:
            self.measure()

    def measure(self) -> None:
        measured: list[dict] = []
        failures: list[str] = []
        for index in range(self.options.warmup + self.options.approvals):
            result = self.approve_one(index)
            if result["state"] != State.APPLIED:
                failures.append(f"request #{result['request_id']}: {result['state']}: {result['error']}")
                continue
            result["direct"], result["direct_calls"] = self.apply_directly(index)
            result["fresh_get"], result["warm_get"] = self.read_namespace_twice(result["namespace"])
            if index >= self.options.warmup:
                measured.append(result)
        if failures:
            raise RuntimeError(f"{len(failures)} approvals were not applied:\n" + "\n".join(failures))
        self.add_timeline(measured)
        self.report(measured)

    def approve_one(self, index: int) -> dict:
        request = workflow.submit_request(
            actor=self.lead,
            team=self.team,
            kind=Request.Kind.CREATE_NAMESPACE,
            namespace_name=f"bench-{self.run_id}-a{index:03d}",
            proposed=copy.deepcopy(self.spec),
            justification="Benchmark: approve to applied.",
        )
        called = time.perf_counter()
        workflow.approve_request(request.pk, actor=self.approver)
        returned, returned_at = time.perf_counter(), time.time()
        deadline = returned + self.options.timeout
        rows = Request.objects.filter(pk=request.pk)
        while (state := rows.values_list("state", flat=True).get()) not in (State.APPLIED, State.FAILED):
            if time.perf_counter() > deadline:
                break
            time.sleep(self.options.poll)
        seen, seen_at = time.perf_counter(), time.time()
        return {
            "request_id": request.pk,
            "namespace": request.namespace_name,
            "state": state,
            "error": rows.values_list("last_error", flat=True).get(),
            "approve_call": returned - called,
            "latency": seen - returned,
            "returned_at": returned_at,
            "seen_at": seen_at,
        }

    def apply_directly(self, index: int) -> tuple[float, int]:
        """What the task asks of the cluster for one new namespace, through the portal's gateway, timed alone."""
        namespace = TeamNamespace(
            name=f"bench-{self.run_id}-d{index:03d}",
            cluster=self.cluster,
            team=self.team,
            tier=self.tier,
            labels={BENCH_LABEL: self.run_id},
            quotas=self.spec["quotas"],
            limit_range=self.spec["limitRange"],
        )
        objects = applying.desired_objects(namespace, self.catalog)
        started = time.perf_counter()
        with ClusterGateway(self.cluster) as gateway:
            gateway.apply_namespace(namespace.name, objects)
        return time.perf_counter() - started, gateway.api_calls

    def read_namespace_twice(self, name: str) -> tuple[float, float]:
        """One GET through a new gateway, as every task makes (kubeconfig, TLS handshake), and through a warm one."""
        started = time.perf_counter()
        with ClusterGateway(self.cluster) as gateway:
            gateway.namespace_labels(name)
        fresh = time.perf_counter() - started
        started = time.perf_counter()
        self.warm_gateway.namespace_labels(name)
        return fresh, time.perf_counter() - started

    def add_timeline(self, measured: list[dict]) -> None:
        """Where each approval's time went, from the audit events the approver and the worker wrote."""
        times: dict[int, dict[str, datetime]] = {}
        events = AuditEvent.objects.filter(
            request_id__in=[result["request_id"] for result in measured],
            verb__in=["request.applying", "request.applied"],
        )
        for request_id, verb, created_at in events.values_list("request_id", "verb", "created_at"):
            times.setdefault(request_id, {})[verb] = created_at
        for result in measured:
            applying_at = times[result["request_id"]]["request.applying"].timestamp()
            applied_at = times[result["request_id"]]["request.applied"].timestamp()
            result["pickup"] = applying_at - result["returned_at"]
            result["apply"] = applied_at - applying_at
            result["observe"] = result["seen_at"] - applied_at

    def report(self, measured: list[dict]) -> None:
        heading(f"approve -> applied, {len(measured)} approvals, one at a time")

        def row(label: str, key: str) -> tuple:
            values = [result[key] for result in measured]
            return (label, ms(percentile(values, 50)), ms(percentile(values, 95)), ms(max(values)))

        print(
            table(
                ["", "p50", "p95", "max"],
                [
                    row("**approve_request returns -> state applied seen in the database**", "latency"),
                    row("  returns -> worker marked it applying (broker, worker, task start)", "pickup"),
                    row("  applying -> applied (the task: gateway, API calls, database)", "apply"),
                    row(f"  applied -> seen by the poller (every {self.options.poll * 1000:.0f} ms)", "observe"),
                    row("approve_request itself (policy, capacity, transaction, enqueue)", "approve_call"),
                    row("the same cluster work through a new ClusterGateway, directly", "direct"),
                    row("one GET through a new ClusterGateway (kubeconfig, TLS handshake)", "fresh_get"),
                    row("one GET through a warm ClusterGateway (kept-alive connection)", "warm_get"),
                ],
            ),
            flush=True,
        )
        shares = [result["direct"] / result["latency"] for result in measured]
        calls = sorted({result["direct_calls"] for result in measured})
        print(
            f"\nshare of the latency spent on the cluster (gateway construction and its "
            f"{'/'.join(map(str, calls))} API calls per namespace), interleaved, per approval: "
            f"median {median(shares):.0%}, p95 {percentile(shares, 95):.0%}",
            flush=True,
        )
