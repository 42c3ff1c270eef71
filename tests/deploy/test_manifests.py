"""The Kustomize overlays under deploy/: what they hold, and that the real API server accepts them.

Every overlay is rendered as an operator renders it and sent to the local API server (v1.20) with
server-side apply and --dry-run=server, into a namespace of its own. The one object 1.20 cannot take is
production's policy/v1 PodDisruptionBudget (served from 1.21): it is sent as policy/v1beta1, same spec.
The worker's RBAC is applied for real and its ServiceAccount questioned with `kubectl auth can-i`.
"""

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api
from kubernetes.client.exceptions import ApiException

from tests.deploy.conftest import OVERLAYS, Render, objects_of, one, pod_templates
from tests.kube import ADMIN_CONTEXT, REPO_ROOT

SECRET = "gpu-portal"
SERVICE_ACCOUNT = "gpu-portal-worker"
CLUSTER_ROLE = "gpu-portal"
FIELD_MANAGER = "gpu-portal-deploy-test"
RUN_AS = 10001


def test_each_overlay_holds_the_portal(render: Render) -> None:
    for overlay, web_replicas, pdb_version in (("dev", 1, "policy/v1beta1"), ("production", 2, "policy/v1")):
        documents = render(overlay)
        web = one(documents, "Deployment", "gpu-portal-web")
        worker = one(documents, "Deployment", "gpu-portal-worker")
        beat = one(documents, "Deployment", "gpu-portal-beat")

        assert {document["kind"] for document in documents} >= {
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Service",
            "Deployment",
            "Job",
            "PodDisruptionBudget",
        }
        assert (web["spec"]["replicas"], web["spec"]["strategy"]["type"]) == (web_replicas, "RollingUpdate")
        assert web["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        assert (worker["spec"]["replicas"], worker["spec"]["strategy"]) == (1, {"type": "Recreate"})
        assert (beat["spec"]["replicas"], beat["spec"]["strategy"]) == (1, {"type": "Recreate"})
        assert one(documents, "PodDisruptionBudget", "gpu-portal-web")["apiVersion"] == pdb_version
        # Secrets are the operator's, never in git: every pod refers to the one Secret by name.
        assert objects_of(documents, "Secret") == []
        for spec in pod_templates(documents).values():
            for container in spec.get("initContainers", []) + spec["containers"]:
                assert {"secretRef": {"name": SECRET}} in container["envFrom"]
    assert [ingress["spec"]["rules"][0]["host"] for ingress in objects_of(render("production"), "Ingress")] == [
        "portal.example.com"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(render: Render, overlay: str) -> None:
    templates = pod_templates(render(overlay))

    assert set(templates) == {
        "Deployment/gpu-portal-web",
        "Deployment/gpu-portal-worker",
        "Deployment/gpu-portal-beat",
        "Job/gpu-portal-migrate",
    }
    for name, spec in templates.items():
        assert spec["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
        assert {"name": "tmp", "emptyDir": spec["volumes"][0]["emptyDir"]} == spec["volumes"][0], name
        # Only the pods that talk to the cluster carry its identity.
        talks_to_cluster = name in ("Deployment/gpu-portal-web", "Deployment/gpu-portal-worker")
        assert spec.get("serviceAccountName") == (SERVICE_ACCOUNT if talks_to_cluster else None), name
        assert spec.get("automountServiceAccountToken", True) is talks_to_cluster, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}], name
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, name


def test_web_probes_ask_the_health_endpoints(render: Render) -> None:
    (web,) = one(render("production"), "Deployment", "gpu-portal-web")["spec"]["template"]["spec"]["containers"]

    assert web["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_worker_role_is_the_one_the_local_cluster_proves(render: Render) -> None:
    """cluster/rbac.yaml is what tests/cluster/test_worker_identity.py checks; deploy/ must grant the same."""
    (local_role,) = [
        document
        for document in yaml.safe_load_all((REPO_ROOT / "cluster" / "rbac.yaml").read_text())
        if document["kind"] == "ClusterRole"
    ]

    for overlay in OVERLAYS:
        assert one(render(overlay), "ClusterRole", CLUSTER_ROLE)["rules"] == local_role["rules"]


@pytest.fixture(scope="module")
def admin_context(kubeconfig_contexts: dict) -> str:
    if os.environ.get("KUBE_ADMIN_CONTEXT"):
        return os.environ["KUBE_ADMIN_CONTEXT"]
    return ADMIN_CONTEXT if ADMIN_CONTEXT in kubeconfig_contexts["names"] else kubeconfig_contexts["current"]


Kubectl = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def as_admin(kubectl: Path, kubeconfig_path: Path, admin_context: str) -> Kubectl:
    """The local cluster's kubectl, as cluster-admin."""

    def run(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(kubectl), f"--kubeconfig={kubeconfig_path}", f"--context={admin_context}", *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def install_target(core: CoreV1Api, admin_api: ApiClient) -> Iterator[tuple[str, str]]:
    """(namespace, suffix) no other test uses; the namespace and cluster-scoped objects named with it are deleted."""
    suffix = uuid.uuid4().hex[:6]
    namespace = f"t-deploy-{suffix}"
    core.create_namespace({"metadata": {"name": namespace, "labels": {"gpu-portal.test/throwaway": "true"}}})
    yield namespace, suffix
    rbac = RbacAuthorizationV1Api(admin_api)
    for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role, core.delete_namespace):
        name = namespace if delete == core.delete_namespace else f"{CLUSTER_ROLE}-{suffix}"
        try:
            delete(name)
        except ApiException as error:
            if error.status != 404:
                raise


def to_yaml(documents: list[dict]) -> str:
    return yaml.safe_dump_all(documents)


@pytest.mark.cluster
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_api_server_accepts_every_object_of_the_overlay(
    render: Render, as_admin: Kubectl, install_target: tuple[str, str], overlay: str
) -> None:
    namespace, suffix = install_target
    documents = render(overlay, namespace=namespace, suffix=suffix)
    for budget in objects_of(documents, "PodDisruptionBudget"):
        if budget["apiVersion"] == "policy/v1":  # not served by 1.20; the spec is the same in v1beta1
            budget["apiVersion"] = "policy/v1beta1"

    result = as_admin(
        "apply", "--server-side", "--dry-run=server", f"--field-manager={FIELD_MANAGER}", "-f", "-",
        stdin=to_yaml(documents),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    applied = [line for line in result.stdout.splitlines() if line.endswith("serverside-applied (server dry run)")]
    assert len(applied) == len(documents), result.stdout
    assert f"clusterrolebinding.rbac.authorization.k8s.io/{CLUSTER_ROLE}-{suffix} serverside-applied" in (result.stdout)


#: What the worker does (DESIGN.md "The data that flows"): server-side apply creates and patches.
WORKER_MAY = [
    ("create", "namespaces"),
    ("patch", "namespaces"),
    ("delete", "namespaces"),
    ("patch", "resourcequotas", "--namespace=ml-research"),
    ("create", "resourcequotas", "--namespace=ml-research"),
    ("delete", "resourcequotas", "--namespace=ml-research"),
    ("list", "resourcequotas", "--all-namespaces"),
    ("patch", "limitranges", "--namespace=ml-research"),
    ("delete", "limitranges", "--namespace=ml-research"),
    ("create", "priorityclasses.scheduling.k8s.io"),
    ("patch", "priorityclasses.scheduling.k8s.io"),
    ("patch", "rolebindings.rbac.authorization.k8s.io", "--namespace=ml-research"),
    ("bind", "clusterroles.rbac.authorization.k8s.io/edit"),
    ("list", "nodes"),
    ("list", "pods", "--all-namespaces"),
    ("list", "events", "--all-namespaces"),
    ("list", "events.events.k8s.io", "--all-namespaces"),
]
WORKER_MAY_NOT = [
    ("get", "secrets", "--namespace=kube-system"),
    ("list", "secrets", "--all-namespaces"),
    ("create", "secrets", "--namespace=ml-research"),
    ("create", "pods", "--namespace=ml-research"),
    ("delete", "pods", "--namespace=ml-research"),
    ("create", "pods", "--subresource=exec", "--namespace=ml-research"),
    ("list", "configmaps", "--all-namespaces"),
    ("create", "serviceaccounts", "--subresource=token", "--namespace=kube-system"),
    ("delete", "priorityclasses.scheduling.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io/admin"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "roles.rbac.authorization.k8s.io", "--namespace=ml-research"),
    ("create", "deployments.apps", "--namespace=ml-research"),
    ("impersonate", "users"),
    ("*", "*"),
]


@pytest.mark.cluster
def test_the_worker_service_account_may_provision_and_nothing_more(
    render: Render, as_admin: Kubectl, install_target: tuple[str, str]
) -> None:
    namespace, suffix = install_target
    identity = [
        document
        for document in render("dev", namespace=namespace, suffix=suffix)
        if document["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")
    ]
    applied = as_admin("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-", stdin=to_yaml(identity))
    assert applied.returncode == 0, applied.stderr

    def answer(check: tuple[str, ...]) -> str:
        result = as_admin("auth", "can-i", *check, f"--as=system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}-{suffix}")
        return result.stdout.strip()

    assert {check: answer(check) for check in WORKER_MAY} == dict.fromkeys(WORKER_MAY, "yes")
    assert {check: answer(check) for check in WORKER_MAY_NOT} == dict.fromkeys(WORKER_MAY_NOT, "no")
