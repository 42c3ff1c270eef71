"""Usage sync at scale (issue 4): API calls, wall time against a bare LIST, SQL statements and samples.

Creates `--namespaces` managed namespaces (2,000 by default) with the seed's three
namespaces' ResourceQuotas in turn on the real cluster, as cluster-admin, and the
matching TeamNamespace rows in a scratch database (desired quotas equal to what was
applied, `last_applied_at` set, so drift is computed): first `--small` of them (500),
then the rest. At each count, from nothing observed, it runs the real `sync_usage`:
a first cycle at once (most quotas have no status yet), a second once the statuses
have settled, a steady one, and a heartbeat an hour later, counting SQL statements,
UsageSample rows and namespaces checked in full. A sync makes three LISTs: the managed
ResourceQuotas, the managed Namespaces and the `FailedCreate` Events (the pods the quota
refused). `sync_usage` builds its own gateway, so its API calls are counted twice from
outside: by the API server's request counters, and by `gateway.api_calls` of a gateway
making the same three lists. Last, alternating over
`--rounds` rounds, it times `sync_usage` against one bare
`list_resource_quota_for_all_namespaces` plus `json.loads` of the same quotas: a quorum
read, the reference, while `sync_usage` reads its three LISTs from the API server's watch
cache (`resourceVersion="0"`) and decodes only the fields it uses.
"""

import argparse
import copy
import json
import math
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from kubernetes import client, config

from provisioning.cluster import LIST_PAGE_SIZE, ClusterGateway
from provisioning.manifests import MANAGED_SELECTOR, render_namespace, render_quotas
from provisioning.models import UsageSample
from provisioning.sync import sync_usage
from teams.catalog import TierCatalog
from teams.models import Cluster, TeamNamespace
from tests.bench._cluster import (
    BENCH_LABEL,
    admin_client,
    bench_namespaces,
    cluster_list_requests,
    create_in_parallel,
    namespace_shapes,
    run_selector,
    wait_for_earlier_runs,
)
from tests.bench._database import scratch_database
from tests.bench._report import heading, median, ms, table
from tests.clusters import connect

#: Longer than the quota controller's resync (10 s on the local cluster): no change for this long is settled.
SETTLE_SECONDS = 12
#: `limit=0`: the API server answers a LIST in one response, however many items.
UNPAGINATED = 0


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench --only sync", description=__doc__.split("\n")[0])
    parser.add_argument("--namespaces", type=int, default=2000, help="managed namespaces at the end (default 2000)")
    parser.add_argument("--small", type=int, default=500, help="the first, smaller count (default 500)")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds of the wall-time comparison (9)")
    parser.add_argument(
        "--status-timeout",
        type=float,
        help="seconds to wait for the quota statuses to settle (default 120 + namespaces / 8)",
    )
    parser.add_argument(
        "--cleanup-wait",
        type=float,
        default=0,
        help="seconds to wait at the end for the namespaces to be gone (default 0: the namespace controller "
        "deletes them in the background, about 7 a second here; the next run waits for them first)",
    )
    options, _ = parser.parse_known_args(argv)
    if options.status_timeout is None:
        options.status_timeout = 120 + options.namespaces / 8
    counts = sorted({min(options.small, options.namespaces), options.namespaces})

    run_id = uuid.uuid4().hex[:6]
    admin = admin_client()
    wait_for_earlier_runs(admin, timeout=900)
    print(f"run {run_id}: namespaces labelled {run_selector(run_id)}, counts {counts}, {options.rounds} rounds")
    try:
        with scratch_database("sync"), bench_namespaces(admin, run_id, wait=options.cleanup_wait):
            SyncBenchmark(run_id, admin, options).run(counts)
    finally:
        admin.close()


class SyncBenchmark:
    def __init__(self, run_id: str, admin: client.ApiClient, options: argparse.Namespace) -> None:
        self.run_id = run_id
        self.admin = admin
        self.admin_core = client.CoreV1Api(admin)
        self.options = options
        self.shapes = namespace_shapes()
        self.catalog = TierCatalog.load()
        self.cluster = connect(
            "bench", kubeconfig_path=settings.KUBECONFIG, context=settings.KUBE_CONTEXT, is_default=True
        )
        self.created = 0
        self.quotas = 0
        self.keys = 0
        self.summary: dict[int, dict] = {}

    def run(self, counts: list[int]) -> None:
        for count in counts:
            self.summary[count] = {"quotas": 0}
            self.grow_to(count)
            self.measure_cycles(count)
            self.measure_api_calls(count)
            self.measure_wall_time(count)
        self.print_summary()

    def print_summary(self) -> None:
        heading("summary: what grows with the namespace count")
        keys = [
            ("quotas", "ResourceQuotas"),
            ("first_statements", "SQL statements, first cycle"),
            ("steady_statements", "SQL statements, steady cycle"),
            ("heartbeat_statements", "SQL statements, heartbeat cycle"),
            ("steady_samples", "UsageSample rows, steady cycle"),
            ("heartbeat_samples", "UsageSample rows, heartbeat cycle"),
            ("unknown", "readings without status, first cycle"),
            ("server_calls", "API calls per cycle (API server's counters)"),
            ("gateway_calls", f"API calls per cycle (gateway, page_size {LIST_PAGE_SIZE})"),
            ("steady_time", "sync_usage, steady cycle (median)"),
            ("ratio", "sync_usage / bare quorum LIST + json.loads (median; goal <= 1.2x)"),
        ]
        counts = sorted(self.summary)
        print(
            table(
                ["", *(f"{count} namespaces" for count in counts)],
                [(label, *(self.summary[count].get(key, "") for count in counts)) for key, label in keys],
            ),
            flush=True,
        )

    # Setting up.

    def grow_to(self, count: int) -> None:
        heading(f"{count} managed namespaces")
        applied_at = timezone.now()
        rows, batches = [], []
        for index in range(self.created, count):
            team, tier, quotas, limit_range = self.shapes[index % len(self.shapes)]
            namespace = TeamNamespace(
                name=f"bench-{self.run_id}-{index:05d}",
                cluster=self.cluster,
                team=team,
                tier=tier,
                labels={BENCH_LABEL: self.run_id},
                quotas=copy.deepcopy(quotas),
                limit_range=copy.deepcopy(limit_range),
                last_applied_at=applied_at,
            )
            quota_objects = render_quotas(namespace, self.catalog)
            for quota in quota_objects:
                quota["metadata"]["labels"][BENCH_LABEL] = self.run_id
                self.keys += len(quota["spec"]["hard"])
            self.quotas += len(quota_objects)
            rows.append(namespace)
            batches.append([render_namespace(namespace), *quota_objects])
        started = time.monotonic()
        create_in_parallel(self.admin, batches)
        on_cluster = time.monotonic() - started
        started = time.monotonic()
        TeamNamespace.objects.bulk_create(rows, batch_size=1000)
        in_database = time.monotonic() - started
        print(
            f"created {len(rows)} namespaces with {sum(len(b) - 1 for b in batches)} ResourceQuotas in "
            f"{on_cluster:.1f} s on the cluster ({len(rows) / on_cluster:.0f} namespaces/s), "
            f"{in_database:.1f} s in the database; now {count} namespaces, {self.quotas} quotas, "
            f"{self.keys} quota keys",
            flush=True,
        )
        self.created = count
        self.summary[count]["quotas"] = self.quotas

    # Measuring.

    def measure_cycles(self, count: int) -> None:
        # Every count starts from nothing observed, so that its first cycle is a first cycle for all rows.
        UsageSample.objects.all().delete()
        TeamNamespace.objects.update(
            observed_quotas={},
            phase="",
            is_drifted=False,
            drift={},
            last_synced_at=None,
            last_sampled_at=None,
            synced_fingerprint="",
        )
        rows = []
        first = cycle(self.cluster)
        unknown, readings = readings_without_status()
        rows.append(("first (just created)", first))
        filled_after, settled_after, missing = self.wait_for_settled_quotas()
        rows.append(("second (quota status filled, settled)", cycle(self.cluster)))
        rows.append(("steady (nothing changed)", cycle(self.cluster)))
        later = timezone.now() + timedelta(seconds=settings.USAGE_HEARTBEAT_SECONDS + 60)
        rows.append(("heartbeat (an hour later)", cycle(self.cluster, now=later)))
        self.summary[count].update(
            first_statements=rows[0][1]["statements"],
            steady_statements=rows[2][1]["statements"],
            heartbeat_statements=rows[3][1]["statements"],
            steady_samples=rows[2][1]["samples"],
            heartbeat_samples=rows[3][1]["samples"],
            unknown=f"{unknown} of {readings}",
        )
        print(
            f"readings without status.used at the first cycle: {unknown} of {readings} "
            f"(stored as unknown, used = NULL); every quota had status {filled_after:.0f} s later, and the "
            f"last status changed (token secrets counted) {settled_after:.0f} s later"
            + (f"; {missing} still without status when the wait ended" if missing else ""),
            "\n",
        )
        print(
            table(
                ["cycle", "SQL statements", "UsageSample rows", "namespaces checked in full", "drifted", "time"],
                [
                    (name, r["statements"], r["samples"], r["checked"], r["drifted"], ms(r["seconds"]))
                    for name, r in rows
                ],
            ),
            flush=True,
        )

    def wait_for_settled_quotas(self) -> tuple[float, float, int]:
        """Until every quota of the run has status and none changed for SETTLE_SECONDS.

        New namespaces keep the controllers busy after the quota controller's first pass: the
        token controller adds each default ServiceAccount's secret, which `used.secrets` counts.
        Returns (seconds until all had status, seconds until the last change, quotas still without).
        """
        started = time.monotonic()
        previous, changed_at, filled_after = None, started, math.nan
        while True:
            statuses = self.quota_statuses()
            now = time.monotonic()
            missing = sum(1 for used in statuses.values() if used is None)
            if statuses != previous:
                previous, changed_at = statuses, now
            if not missing and math.isnan(filled_after):
                filled_after = now - started
            if not missing and now - changed_at >= SETTLE_SECONDS:
                return filled_after, changed_at - started, 0
            if now - started >= self.options.status_timeout:
                return filled_after, changed_at - started, missing
            time.sleep(2)

    def quota_statuses(self) -> dict[tuple[str, str], dict | None]:
        """(namespace, name) -> status.used once the quota controller has caught up with spec.hard, else None."""
        response = self.admin_core.list_resource_quota_for_all_namespaces(
            label_selector=run_selector(self.run_id), _preload_content=False
        )
        statuses = {}
        for quota in json.loads(response.data)["items"]:
            status = quota.get("status") or {}
            is_current = status.get("used") is not None and status.get("hard") == quota["spec"]["hard"]
            statuses[quota["metadata"]["namespace"], quota["metadata"]["name"]] = status["used"] if is_current else None
        return statuses

    def measure_api_calls(self, count: int) -> None:
        default_calls = gateway_calls(self.cluster, LIST_PAGE_SIZE, from_watch_cache=True)
        quorum_calls = gateway_calls(self.cluster, LIST_PAGE_SIZE, from_watch_cache=False)
        # sync_usage builds its own gateway, so its count is not observable from outside; the API server's
        # own counters are. Other clients may LIST in the same window: the least of three cycles is ours.
        observed = []
        resources = ("resourcequotas", "namespaces", "events")
        for _ in range(3):
            before = cluster_list_requests(self.admin, resources)
            sync_usage(self.cluster)
            after = cluster_list_requests(self.admin, resources)
            observed.append({resource: int(after[resource] - before[resource]) for resource in resources})
        least = min(observed, key=lambda delta: sum(delta.values()))
        self.summary[count].update(server_calls=sum(least.values()), gateway_calls=sum(default_calls))
        print(
            "\nAPI calls per sync cycle:\n\n"
            + table(
                ["measured how", "calls", "quota LISTs", "namespace LISTs", "event LISTs"],
                [
                    ("API server's LIST counters around sync_usage, least of 3", sum(least.values()), *least.values()),
                    (
                        f"gateway.api_calls, same 3 lists, watch cache, page {LIST_PAGE_SIZE}",
                        sum(default_calls),
                        *default_calls,
                    ),
                    (
                        f"gateway.api_calls, same 3 lists, quorum, page {LIST_PAGE_SIZE}",
                        sum(quorum_calls),
                        *quorum_calls,
                    ),
                ],
            ),
            flush=True,
        )

    def measure_wall_time(self, count: int) -> None:
        api = config.new_client_from_config(
            config_file=self.cluster.connection.kubeconfig_path, context=self.cluster.connection.context
        )
        core = client.CoreV1Api(api)

        def bare(**options) -> None:
            response = core.list_resource_quota_for_all_namespaces(
                label_selector=MANAGED_SELECTOR, _preload_content=False, _request_timeout=120, **options
            )
            json.loads(response.data)

        def gateway_lists(page_size: int, *, from_watch_cache: bool) -> None:
            with ClusterGateway(self.cluster, page_size=page_size) as gateway:
                gateway.list_quota_usage(from_watch_cache=from_watch_cache)
                gateway.list_managed_namespaces(from_watch_cache=from_watch_cache)
                gateway.list_quota_refusals(from_watch_cache=from_watch_cache)

        variants = {
            "bare quorum LIST + json.loads": bare,
            "the same, resourceVersion=0 (API server's watch cache)": lambda: bare(resource_version="0"),
            f"gateway's 3 LISTs, watch cache, page_size {LIST_PAGE_SIZE} (sync_usage's)": lambda: gateway_lists(
                LIST_PAGE_SIZE, from_watch_cache=True
            ),
            f"gateway's 3 LISTs, quorum, page_size {LIST_PAGE_SIZE}": lambda: gateway_lists(
                LIST_PAGE_SIZE, from_watch_cache=False
            ),
            "gateway's 3 LISTs, quorum, unpaginated (page_size=0)": lambda: gateway_lists(
                UNPAGINATED, from_watch_cache=False
            ),
            "sync_usage (steady state)": lambda: sync_usage(self.cluster),
        }
        names = list(variants)
        for function in variants.values():  # warm connections, caches and code paths once
            function()
        times: dict[str, list[float]] = {name: [] for name in names}
        for round_index in range(self.options.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            if round_index % 2:
                order.reverse()
            for name in order:
                started = time.perf_counter()
                variants[name]()
                times[name].append(time.perf_counter() - started)
        size = len(
            core.list_resource_quota_for_all_namespaces(label_selector=MANAGED_SELECTOR, _preload_content=False).data
        )
        api.close()
        with ClusterGateway(self.cluster) as gateway:
            refusals = len(gateway.list_quota_refusals())
        reference = names[0]
        rows = []
        for name in names:
            ratios = [mine / base for mine, base in zip(times[name], times[reference], strict=True)]
            of_medians = median(times[name]) / median(times[reference])
            rows.append((name, ms(median(times[name])), f"{median(ratios):.2f}x", f"{of_medians:.2f}x"))
        self.summary[count].update(ratio=rows[-1][2], steady_time=rows[-1][1])
        headers = ["what", "median time", "ratio to bare: median of rounds", "ratio of medians"]
        print(
            f"\nwall time, {self.options.rounds} alternating rounds (the quota LIST is {size / 1e6:.1f} MB of JSON; "
            f"the event LIST found {refusals} quota refusals in the cluster):"
            f"\n\n{table(headers, rows)}",
            flush=True,
        )


def gateway_calls(cluster: Cluster, page_size: int, *, from_watch_cache: bool) -> tuple[int, int, int]:
    """Requests the gateway sends for sync_usage's three lists: pages of the quota, namespace and event LISTs."""
    with ClusterGateway(cluster, page_size=page_size) as gateway:
        gateway.list_quota_usage(from_watch_cache=from_watch_cache)
        quota_calls = gateway.api_calls
        gateway.list_managed_namespaces(from_watch_cache=from_watch_cache)
        namespace_calls = gateway.api_calls - quota_calls
        gateway.list_quota_refusals(from_watch_cache=from_watch_cache)
        return quota_calls, namespace_calls, gateway.api_calls - quota_calls - namespace_calls


def cycle(cluster: Cluster, now=None) -> dict:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = sync_usage(cluster, now=now)
        seconds = time.perf_counter() - started
    return {
        "statements": len(queries),
        "samples": result.samples,
        "checked": result.checked,
        "drifted": len(result.drifted),
        "seconds": seconds,
    }


def readings_without_status() -> tuple[int, int]:
    unknown = readings = 0
    for observed in TeamNamespace.objects.values_list("observed_quotas", flat=True):
        for quota in observed.values():
            readings += 1
            unknown += quota["used"] is None
    return unknown, readings
