"""Fixtures shared by every test folder: the seed's world and its people, and the real cluster.

The kubeconfig is the interface: `$KUBECONFIG` if set, else the local cluster's
`.cluster/kubeconfig` (`make cluster`). Nothing of the cluster is mocked.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from kubernetes import config
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from portal.celery import app as celery_app
from teams.demo import seed_demo
from teams.models import Cluster, Team, TeamNamespace
from tests.clusters import connect
from tests.control_plane import ControlPlane
from tests.kube import ADMIN_CONTEXT, LOCAL_KUBECONFIG, WORKER_CONTEXT, local_kubectl
from tests.worker import running_worker


class World:
    """The seed_demo world, with short names for what tests reach for."""

    def __init__(self) -> None:
        users = get_user_model().objects
        self.research = Team.objects.get(slug="research")
        self.platform = Team.objects.get(slug="platform")
        self.data_science = Team.objects.get(slug="data-science")
        self.research_lead = users.get(username="research-lead")
        self.research_member = users.get(username="research-member")
        self.platform_lead = users.get(username="platform-lead")
        self.approver = users.get(username="approver")
        self.finance = users.get(username="finance")

    def namespace(self, name: str) -> TeamNamespace:
        return TeamNamespace.objects.select_related("cluster", "team", "tier").get(name=name, cluster__is_default=True)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Demo users are created in most tests; real hashing would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db) -> World:
    seed_demo()
    return World()


@pytest.fixture
def sign_in(world, client):
    """`sign_in("research-lead")`: the test client, signed in as that seed user."""

    def as_user(username: str):
        client.force_login(get_user_model().objects.get(username=username))
        return client

    return as_user


@pytest.fixture
def second_approver(world):
    user = get_user_model().objects.create_user("approver-2", password="x", is_staff=True)
    user.groups.add(world.approver.groups.get())
    return user


@pytest.fixture(scope="session")
def kubeconfig_path() -> Path:
    path = Path(os.environ.get("KUBECONFIG") or LOCAL_KUBECONFIG)
    if not path.is_file():
        pytest.fail(f"no kubeconfig at {path}: run `make cluster` (or set KUBECONFIG to another cluster's)")
    return path


@pytest.fixture(scope="session")
def kubectl() -> Path:
    """The kubectl built with the local cluster (same version as the server)."""
    path = local_kubectl()
    if not path.is_file():
        pytest.fail(f"no kubectl at {path}: run `make cluster` (or set KUBECTL)")
    return path


@pytest.fixture(scope="session")
def kubeconfig_contexts(kubeconfig_path: Path) -> dict:
    document = yaml.safe_load(kubeconfig_path.read_text())
    return {
        "names": [context["name"] for context in document.get("contexts") or []],
        "current": document.get("current-context"),
    }


@pytest.fixture(scope="session")
def admin_api(kubeconfig_path: Path, kubeconfig_contexts: dict) -> Iterator[ApiClient]:
    """cluster-admin: ``$KUBE_ADMIN_CONTEXT``, else gpu-portal-admin, else the current context."""
    context = os.environ.get("KUBE_ADMIN_CONTEXT") or (
        ADMIN_CONTEXT if ADMIN_CONTEXT in kubeconfig_contexts["names"] else kubeconfig_contexts["current"]
    )
    client = config.new_client_from_config(config_file=str(kubeconfig_path), context=context)
    yield client
    client.close()


@pytest.fixture(scope="session")
def worker_api(kubeconfig_path: Path, kubeconfig_contexts: dict) -> Iterator[ApiClient]:
    """The portal worker's least-privilege identity (cluster/rbac.yaml)."""
    context = os.environ.get("KUBE_WORKER_CONTEXT") or WORKER_CONTEXT
    if context not in kubeconfig_contexts["names"]:
        pytest.skip(f"kubeconfig has no context {context!r} for the portal worker (set KUBE_WORKER_CONTEXT)")
    client = config.new_client_from_config(config_file=str(kubeconfig_path), context=context)
    yield client
    client.close()


@pytest.fixture(scope="session")
def core(admin_api: ApiClient) -> CoreV1Api:
    return CoreV1Api(admin_api)


@pytest.fixture
def cluster(db, kubeconfig_path) -> Cluster:
    """The default cluster, reached as the worker's least-privilege identity."""
    return connect("local", kubeconfig_path=str(kubeconfig_path), context=WORKER_CONTEXT, is_default=True)


@pytest.fixture
def throwaway_cluster(db, tmp_path) -> Iterator[tuple[ControlPlane, Cluster]]:
    """A control plane of the test's own, the default cluster as the worker reaches it: a test may stop it."""
    if not (local_kubectl().parent / "kube-apiserver").exists():
        pytest.skip("a throwaway control plane needs the binaries cluster/build.sh builds")
    plane = ControlPlane.in_directory(tmp_path / "control-plane")
    try:
        plane.up()
        yield (
            plane,
            connect("throwaway", kubeconfig_path=str(plane.kubeconfig), context=WORKER_CONTEXT, is_default=True),
        )
    finally:
        plane.tear_down()


@pytest.fixture
def unique_name(core) -> Iterator[Callable[[str], str]]:
    """Namespace names no other test uses; whatever of them reached the cluster is deleted after."""
    names: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            core.delete_namespace(name, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture
def research(world, unique_name) -> TeamNamespace:
    """The seed's ml-research under a name of its own, for tests whose approvals really reach the shared cluster."""
    namespace = world.namespace("ml-research")
    namespace.name = unique_name("ml-research")
    namespace.save()
    return namespace


@pytest.fixture
def fast_retries(settings) -> None:
    """Retries a second or two apart, for a minute at most: an outage test takes seconds, not an hour."""
    settings.PROVISIONING_RETRY_BACKOFF = 1
    settings.PROVISIONING_RETRY_BACKOFF_MAX = 2
    settings.PROVISIONING_RETRY_DEADLINE = 60


@pytest.fixture
def worker(transactional_db, fast_retries) -> Iterator[None]:
    celery_app.control.purge()
    with running_worker():
        yield
