"""In a pod, a cluster without a kubeconfig is reached as the pod's ServiceAccount (provisioning.cluster).

The pod is imitated the way the kubelet makes one: KUBERNETES_SERVICE_HOST/PORT name the API server, and
a directory holds the ServiceAccount's token, ca.crt and namespace, here those of a ServiceAccount made for
the test and bound to the worker's ClusterRole (cluster/rbac.yaml). The portal runs in a fresh process
with that environment, through the kubernetes client's own in-cluster loader, nothing patched.
"""

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from kubernetes.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api
from kubernetes.client.exceptions import ApiException

from teams.constants import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from tests.kube import REPO_ROOT, WORKER_CONTEXT, wait_until

pytestmark = pytest.mark.cluster

WORKER_ROLE = "gpu-portal-worker"

#: Lists the managed quotas through the gateway as the default cluster (settings) and as a cluster with a
#: kubeconfig, and asks each for kube-system's secrets: the API server's refusal names who asked.
PROGRAM = """
import json, sys
import django
django.setup()
from django.conf import settings
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from provisioning.cluster import ClusterGateway
from provisioning.models import ClusterConnection
from teams.models import Cluster

def refusal(gateway):
    try:
        CoreV1Api(gateway.api).list_namespaced_secret("kube-system", _request_timeout=30)
    except ApiException as error:
        return json.loads(error.body)["message"]
    return "allowed"

def connection(name, **how):
    return ClusterConnection(cluster=Cluster(name=name), **how)

default = connection("default", kubeconfig_path=settings.KUBECONFIG, context=settings.KUBE_CONTEXT)
with ClusterGateway(default) as gateway:
    seen = {"kubeconfig": settings.KUBECONFIG, "namespaces": sorted({q.namespace for q in gateway.list_quota_usage()})}
    seen["refusal"] = refusal(gateway)
with ClusterGateway(connection("outside", kubeconfig_path=sys.argv[1], context=sys.argv[2])) as gateway:
    seen["kubeconfig_refusal"] = refusal(gateway)
print(json.dumps(seen))
"""


@pytest.fixture
def service_account(core: CoreV1Api, admin_api: ApiClient, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """(namespace, name, mounted directory) of a ServiceAccount bound to the worker's ClusterRole, and a quota."""
    rbac = RbacAuthorizationV1Api(admin_api)
    try:
        rbac.read_cluster_role(WORKER_ROLE)
    except ApiException as error:
        if error.status != 404:
            raise
        pytest.skip(f"the cluster has no ClusterRole {WORKER_ROLE} (cluster/rbac.yaml)")
    suffix = uuid.uuid4().hex[:6]
    namespace, name, binding = f"t-in-pod-{suffix}", "portal", f"t-in-pod-{suffix}"
    core.create_namespace({"metadata": {"name": namespace, "labels": {"gpu-portal.test/throwaway": "true"}}})
    try:
        core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": binding},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": WORKER_ROLE},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            }
        )
        core.create_namespaced_resource_quota(
            namespace,
            {"metadata": {"name": "quota", "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}}, "spec": {"hard": {}}},
        )
        # Kubernetes 1.20's token controller writes a Secret for every ServiceAccount; the kubelet mounts it.
        account = wait_until(
            lambda: core.read_namespaced_service_account(name, namespace).secrets,
            timeout=60,
            what=f"the token Secret of {namespace}/{name}",
        )
        secret = core.read_namespaced_secret(account[0].name, namespace)
        mounted = tmp_path / "serviceaccount"
        mounted.mkdir()
        for key in ("token", "ca.crt", "namespace"):
            (mounted / key).write_bytes(base64.b64decode(secret.data[key]))
        yield namespace, name, mounted
    finally:
        try:
            rbac.delete_cluster_role_binding(binding)
        except ApiException as error:
            if error.status != 404:
                raise
        core.delete_namespace(namespace)


def test_in_a_pod_the_gateway_lists_quotas_as_the_pods_service_account(
    service_account: tuple[str, str, Path], kubeconfig_path: Path
) -> None:
    namespace, name, mounted = service_account
    document = yaml.safe_load(kubeconfig_path.read_text())
    server = urlparse(document["clusters"][0]["cluster"]["server"])
    environment = {key: value for key, value in os.environ.items() if key not in ("KUBECONFIG", "KUBE_CONTEXT")}
    environment.update(
        KUBERNETES_SERVICE_HOST=server.hostname,
        KUBERNETES_SERVICE_PORT=str(server.port),
        KUBE_SERVICE_ACCOUNT_DIR=str(mounted),
        DJANGO_SETTINGS_MODULE="portal.settings",
    )

    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(kubeconfig_path), WORKER_CONTEXT],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["kubeconfig"] == ""
    assert namespace in seen["namespaces"]
    assert seen["refusal"] == (
        f'secrets is forbidden: User "system:serviceaccount:{namespace}:{name}" cannot list resource "secrets" '
        'in API group "" in the namespace "kube-system"'
    )
    # A cluster with a kubeconfig keeps its own identity in a pod too.
    assert seen["kubeconfig_refusal"].startswith(f'secrets is forbidden: User "{WORKER_CONTEXT}" cannot list')
