"""Usage sync of three clusters at once (issue 14): one beat tick, a task and a worker per cluster, against the floor.

Beat's `provisioning.sync_usage` sends one `sync_cluster_usage` task per cluster, each to
the cluster's own queue (`PROVISIONING_QUEUE_PER_CLUSTER`), where a worker of its own
(`celery -A portal worker --pool=solo -Q cluster.<name>`, as placed near its cluster)
syncs it under the cluster's own lease. This benchmark runs the shared local cluster and
`--clusters - 1` throwaway control planes (tests/control_plane.py), each holding
`--namespaces` managed namespaces with the seed's quotas, and times, over `--rounds`
alternating rounds, from sending to the last cluster's completed lease:

* each cluster synced alone (its task only), and the slowest of them: the floor, since a
  cycle cannot end before its slowest cluster does;
* the whole beat tick: the fan-out and the three syncs at once.

The ratio of the tick to the floor says what syncing together costs each cluster; the sum
of the singles is what one worker syncing the clusters one after another would take.
"""

import argparse
import copy
import json
import socket
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.test.utils import override_settings
from django.utils import timezone
from kubernetes import client, config

from provisioning import tasks
from provisioning.manifests import render_namespace, render_quotas
from provisioning.models import ClusterConnection, TaskLock
from teams.catalog import TierCatalog
from teams.models import Cluster, TeamNamespace
from tests.bench._cluster import (
    BENCH_LABEL,
    admin_client,
    bench_namespaces,
    create_in_parallel,
    namespace_shapes,
    run_selector,
    wait_for_earlier_runs,
)
from tests.bench._database import scratch_database
from tests.bench._report import heading, median, ms, table
from tests.bench._worker import celery_worker
from tests.clusters import connect
from tests.control_plane import ControlPlane
from tests.kube import ADMIN_CONTEXT, WORKER_CONTEXT

#: The lease each cluster's sync takes (provisioning.tasks._under_lease); its release marks the sync done.
LEASE = "provisioning.sync_usage"
POLL_SECONDS = 0.005


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only clusters", description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=3, help="clusters synced together (default 3)")
    parser.add_argument("--namespaces", type=int, default=1000, help="managed namespaces per cluster (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one sync may take")
    options, _ = parser.parse_known_args(argv)

    run_id = uuid.uuid4().hex[:6]
    admin = admin_client()
    wait_for_earlier_runs(admin, timeout=900)
    work_dir = Path(tempfile.mkdtemp(prefix=f"bench-clusters-{run_id}-"))
    print(
        f"run {run_id}: {options.clusters} clusters of {options.namespaces} namespaces each, {options.rounds} rounds; "
        f"control planes and worker logs in {work_dir}",
        flush=True,
    )
    try:
        with ExitStack() as stack:
            # Each cluster's tasks to its own queue, where its own worker waits.
            stack.enter_context(override_settings(PROVISIONING_QUEUE_PER_CLUSTER=True))
            database_url = stack.enter_context(scratch_database("clusters"))
            # The shared cluster keeps running after the run: its namespaces are deleted by label.
            stack.enter_context(bench_namespaces(admin, run_id, wait=0))
            kubeconfigs = [(Path(settings.KUBECONFIG), settings.KUBE_CONTEXT)]
            for index in range(1, options.clusters):
                plane = ControlPlane.in_directory(work_dir / f"plane-{index}")
                stack.callback(plane.tear_down)
                started = time.monotonic()
                plane.up()
                print(f"control plane {index} up in {time.monotonic() - started:.0f} s", flush=True)
                kubeconfigs.append((plane.kubeconfig, WORKER_CONTEXT))
            benchmark = ClustersBenchmark(run_id, options, kubeconfigs)
            stack.callback(benchmark.close)
            benchmark.fill()
            for cluster in benchmark.clusters:
                hostname = f"bench-{run_id}-{cluster.name}@{socket.gethostname()}"
                log = work_dir / f"worker-{cluster.name}.log"
                stack.enter_context(celery_worker(database_url, _queue(cluster), hostname, log))
            benchmark.measure()
    finally:
        admin.close()


def _queue(cluster: Cluster) -> str:
    return tasks.route(cluster)["queue"]


class ClustersBenchmark:
    def __init__(self, run_id: str, options: argparse.Namespace, kubeconfigs: list[tuple[Path, str]]) -> None:
        self.run_id = run_id
        self.options = options
        self.shapes = namespace_shapes()
        self.catalog = TierCatalog.load()
        self.clusters: list[Cluster] = []
        self.admins: list[client.ApiClient] = []
        for index, (kubeconfig, context) in enumerate(kubeconfigs):
            name = f"b{run_id}-{index}"
            self.clusters.append(connect(name, kubeconfig_path=str(kubeconfig), context=context, is_default=index == 0))
            if index == 0:
                self.admins.append(admin_client())
            else:
                self.admins.append(config.new_client_from_config(config_file=str(kubeconfig), context=ADMIN_CONTEXT))

    def close(self) -> None:
        for admin in self.admins:
            admin.close()

    def fill(self) -> None:
        """The same namespaces, by shape, on every cluster: on the cluster as its admin, and in the database."""
        heading(f"{len(self.clusters)} clusters of {self.options.namespaces} managed namespaces")
        for cluster, admin in zip(self.clusters, self.admins, strict=True):
            rows, batches = [], []
            for index in range(self.options.namespaces):
                team, tier, quotas, limit_range = self.shapes[index % len(self.shapes)]
                namespace = TeamNamespace(
                    name=f"bench-{self.run_id}-{index:05d}",
                    cluster=cluster,
                    team=team,
                    tier=tier,
                    labels={BENCH_LABEL: self.run_id},
                    quotas=copy.deepcopy(quotas),
                    limit_range=copy.deepcopy(limit_range),
                    last_applied_at=timezone.now(),
                )
                quota_objects = render_quotas(namespace, self.catalog)
                for quota in quota_objects:
                    quota["metadata"]["labels"][BENCH_LABEL] = self.run_id
                rows.append(namespace)
                batches.append([render_namespace(namespace), *quota_objects])
            started = time.monotonic()
            create_in_parallel(admin, batches)
            TeamNamespace.objects.bulk_create(rows, batch_size=1000)
            print(f"{cluster.name}: {len(rows)} namespaces in {time.monotonic() - started:.0f} s", flush=True)
        for cluster, admin in zip(self.clusters, self.admins, strict=True):
            started = time.monotonic()
            while missing := self.quotas_without_status(admin):
                if time.monotonic() - started > self.options.timeout:
                    print(f"{cluster.name}: {missing} quotas still without status; measuring anyway", flush=True)
                    break
                time.sleep(2)
            print(f"{cluster.name}: every quota has its status after {time.monotonic() - started:.0f} s", flush=True)

    def quotas_without_status(self, admin: client.ApiClient) -> int:
        response = client.CoreV1Api(admin).list_resource_quota_for_all_namespaces(
            label_selector=run_selector(self.run_id), _preload_content=False
        )
        return sum(1 for item in json.loads(response.data)["items"] if (item.get("status") or {}).get("used") is None)

    def measure(self) -> None:
        # Two ticks first: the first sync checks every namespace in full, the second confirms (drift is only
        # flagged when two syncs see it); from the third on, syncs are steady, as every 30 s in production.
        for _ in range(2):
            self.tick()
        singles: dict[str, list[float]] = {cluster.name: [] for cluster in self.clusters}
        ticks: list[float] = []
        ratios: list[float] = []
        for round_index in range(self.options.rounds):
            order = self.clusters if round_index % 2 == 0 else list(reversed(self.clusters))
            this_round = {}
            if round_index % 2:
                ticks.append(self.tick())
            for cluster in order:
                this_round[cluster.name] = self.alone(cluster)
                singles[cluster.name].append(this_round[cluster.name])
            if not round_index % 2:
                ticks.append(self.tick())
            ratios.append(ticks[-1] / max(this_round.values()))
        floors = [max(values) for values in zip(*singles.values(), strict=True)]
        serial = [sum(values) for values in zip(*singles.values(), strict=True)]
        rows = [(f"{name} alone", ms(median(values)), "") for name, values in singles.items()]
        rows += [
            ("slowest alone (the floor)", ms(median(floors)), "1.00x"),
            ("one after another (sum of the singles)", ms(median(serial)), f"{median(serial) / median(floors):.2f}x"),
            (
                f"beat tick: {len(self.clusters)} at once, a worker each",
                ms(median(ticks)),
                f"{median(ratios):.2f}x (median of rounds), {median(ticks) / median(floors):.2f}x (of medians)",
            ),
        ]
        print(
            f"\nsend to done, {self.options.rounds} alternating rounds (each sync a steady one of "
            f"{self.options.namespaces} namespaces):\n\n{table(['what', 'median', 'against the floor'], rows)}",
            flush=True,
        )

    def alone(self, cluster: Cluster) -> float:
        sent = timezone.now()
        started = time.perf_counter()
        tasks.sync_cluster_usage.apply_async((cluster.pk,), queue=_queue(cluster))
        self.wait_done([cluster], sent)
        return time.perf_counter() - started

    def tick(self) -> float:
        sent = timezone.now()
        started = time.perf_counter()
        tasks.sync_usage.apply()  # the fan-out, as beat's tick runs it
        self.wait_done(self.clusters, sent)
        return time.perf_counter() - started

    def wait_done(self, clusters: list[Cluster], sent: datetime) -> None:
        """Until each cluster's lease was released after `sent`, and its sync succeeded."""
        names = {f"{LEASE}:{cluster.name}" for cluster in clusters}
        deadline = time.monotonic() + self.options.timeout
        while TaskLock.objects.filter(name__in=names, completed_at__gte=sent).count() < len(names):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no sync of {sorted(names)} completed within {self.options.timeout} s")
            time.sleep(POLL_SECONDS)
        failed = ClusterConnection.objects.filter(cluster__in=clusters).exclude(health=ClusterConnection.Health.OK)
        if failed.exists():
            raise RuntimeError(f"a sync failed: {[(c.cluster.name, c.last_error) for c in failed]}")
