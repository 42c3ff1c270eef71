"""The benchmarks' own hands on the cluster: the admin identity, bulk creation, cleanup by label.

The portal's code under measurement talks to the cluster only through its ClusterGateway
as the worker identity; these helpers are the cluster-admin around it.
"""

import concurrent.futures
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import yaml
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from teams.demo import seed_demo
from teams.models import TeamNamespace
from tests.kube import ADMIN_CONTEXT

#: On every namespace a benchmark creates, so that cleanup finds all of them and nothing else.
BENCH_LABEL = "gpu-portal.bench/run"
THREADS = 16


def admin_client(pool_size: int = THREADS) -> client.ApiClient:
    """cluster-admin: `$KUBE_ADMIN_CONTEXT`, else gpu-portal-admin, else the kubeconfig's current context."""
    path = settings.KUBECONFIG
    with open(path) as handle:
        names = [context["name"] for context in yaml.safe_load(handle).get("contexts") or []]
    context = os.environ.get("KUBE_ADMIN_CONTEXT") or (ADMIN_CONTEXT if ADMIN_CONTEXT in names else None)
    configuration = client.Configuration()
    config.load_kube_config(config_file=path, context=context, client_configuration=configuration, persist_config=False)
    configuration.connection_pool_maxsize = pool_size
    return client.ApiClient(configuration)


def namespace_shapes() -> list[tuple]:
    """(team, tier, quotas, limit range) of the seed's namespaces, which are then deleted: the shapes to copy.

    One quota of 12 keys, a scoped quota beside an unscoped one, one quota of one key; only the
    copies a benchmark makes are managed.
    """
    seed_demo()
    shapes = [
        (namespace.team, namespace.tier, namespace.quotas, namespace.limit_range)
        for namespace in TeamNamespace.objects.select_related("team__cost_center", "tier").order_by("name")
    ]
    TeamNamespace.objects.all().delete()
    return shapes


def run_selector(run_id: str) -> str:
    return f"{BENCH_LABEL}={run_id}"


def retrying(call: Callable[[], object], attempts: int = 6) -> object:
    """Retry what a busy API server refuses for now (429, 5xx, dropped connections)."""
    for attempt in range(attempts):
        try:
            return call()
        except ApiException as error:
            is_transient = error.status == 429 or (error.status or 0) >= 500
            if not is_transient or attempt == attempts - 1:
                raise
        except OSError:
            if attempt == attempts - 1:
                raise
        time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


def create_in_parallel(api: client.ApiClient, batches: list[list[dict]], threads: int = THREADS) -> None:
    """POST each batch's objects in order (a Namespace, then what goes in it); batches run in parallel."""
    core = client.CoreV1Api(api)

    def create(manifest: dict) -> None:
        kind, metadata = manifest["kind"], manifest["metadata"]
        try:
            if kind == "Namespace":
                retrying(lambda: core.create_namespace(manifest, _preload_content=False))
            elif kind == "ResourceQuota":
                retrying(
                    lambda: core.create_namespaced_resource_quota(
                        metadata["namespace"], manifest, _preload_content=False
                    )
                )
            else:
                raise ValueError(f"cannot create a {kind}")
        except ApiException as error:
            if error.status != 409:  # already there: a retry whose first attempt had gone through
                raise

    def create_batch(batch: list[dict]) -> None:
        for manifest in batch:
            create(manifest)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(create_batch, batch) for batch in batches]:
            future.result()


def run_namespaces(api: client.ApiClient, run_id: str) -> list[dict]:
    response = client.CoreV1Api(api).list_namespace(label_selector=run_selector(run_id), _preload_content=False)
    return json.loads(response.data)["items"]


def delete_run_namespaces(api: client.ApiClient, run_id: str, *, wait: float) -> tuple[int, float, int]:
    """Delete every namespace labelled with this run; wait up to `wait` s for the namespace controller.

    Returns (deleted, seconds until gone, still there when the wait ended).
    """
    core = client.CoreV1Api(api)
    started = time.monotonic()
    names = [item["metadata"]["name"] for item in run_namespaces(api, run_id)]

    def delete(name: str) -> None:
        try:
            retrying(lambda: core.delete_namespace(name, _preload_content=False))
        except ApiException as error:
            if error.status != 404:
                raise

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(delete, names))
    remaining = len(names)
    reported = time.monotonic()
    while remaining and time.monotonic() - started < wait:
        time.sleep(2)
        remaining = len(run_namespaces(api, run_id))
        if time.monotonic() - reported >= 30:
            print(f"  cleanup: {remaining} of {len(names)} namespaces still terminating", flush=True)
            reported = time.monotonic()
    return len(names), time.monotonic() - started, remaining


@contextmanager
def bench_namespaces(api: client.ApiClient, run_id: str, *, wait: float) -> Iterator[None]:
    """Whatever happens inside, delete the run's namespaces at the end; wait up to `wait` s for them to go."""
    try:
        yield
    finally:
        print(f"\ncleanup: deleting namespaces labelled {run_selector(run_id)} ...", flush=True)
        deleted, seconds, remaining = delete_run_namespaces(api, run_id, wait=wait)
        if remaining:
            print(
                f"cleanup: {deleted} deleted, {remaining} still terminating after {seconds:.0f} s; the namespace "
                "controller finishes them in the background (the next benchmark waits for them first)",
                flush=True,
            )
        else:
            print(f"cleanup: {deleted} namespaces deleted and gone in {seconds:.0f} s", flush=True)


def wait_for_earlier_runs(api: client.ApiClient, *, timeout: float) -> None:
    """Let namespaces of earlier runs finish terminating first: deleting them loads the whole control plane.

    Only waits: namespaces of a run still in progress (someone else's) are not terminating and not touched.
    """
    core = client.CoreV1Api(api)
    started = reported = time.monotonic()
    while True:
        response = core.list_namespace(label_selector=BENCH_LABEL, _preload_content=False)
        terminating = sum(1 for item in json.loads(response.data)["items"] if item["metadata"].get("deletionTimestamp"))
        elapsed = time.monotonic() - started
        if not terminating:
            if elapsed >= 1:
                print(f"earlier runs' namespaces gone after {elapsed:.0f} s", flush=True)
            return
        if elapsed >= timeout:
            print(f"warning: {terminating} namespaces of earlier runs still terminating; measuring anyway", flush=True)
            return
        if elapsed < 1 or time.monotonic() - reported >= 30:
            print(f"waiting for {terminating} namespaces of earlier benchmark runs to finish terminating", flush=True)
            reported = time.monotonic()
        time.sleep(3)


_LIST_COUNTER = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.MULTILINE)


def cluster_list_requests(api: client.ApiClient, resources: tuple[str, ...]) -> dict[str, float]:
    """The API server's own count of cluster-wide LISTs served so far, per resource (from /metrics)."""
    method, url, headers, body, post_params = api.param_serialize(
        method="GET", resource_path="/metrics", header_params={"Accept": "text/plain"}, auth_settings=["BearerToken"]
    )
    response = api.call_api(method, url, header_params=headers, body=body, post_params=post_params, _request_timeout=30)
    response.read()
    counts = dict.fromkeys(resources, 0.0)
    for match in _LIST_COUNTER.finditer(response.data.decode()):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        if labels.get("verb") == "LIST" and labels.get("scope") == "cluster" and labels.get("resource") in counts:
            counts[labels["resource"]] += float(match["value"])
    return counts
