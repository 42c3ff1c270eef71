"""Kubeconfigs for connection tests: the shared cluster's, and one of a ServiceAccount with fewer rules."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from kubernetes.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api
from kubernetes.client.exceptions import ApiException

from tests.kube import WORKER_CONTEXT, wait_until


def kubeconfig_text(kubeconfig_path: Path) -> str:
    """The shared cluster's kubeconfig, as a person would upload it (certificates embedded)."""
    return kubeconfig_path.read_text()


def token_of(kubeconfig_path: Path, context: str = WORKER_CONTEXT) -> str:
    document = yaml.safe_load(kubeconfig_path.read_text())
    user = next(c["context"]["user"] for c in document["contexts"] if c["name"] == context)
    return next(u["user"]["token"] for u in document["users"] if u["name"] == user)


def kubeconfig_for_token(kubeconfig_path: Path, token: str, *, server: str | None = None) -> str:
    """A one-context kubeconfig (context `portal`) for `token` on the shared cluster (or another server)."""
    document = yaml.safe_load(kubeconfig_path.read_text())
    cluster = dict(document["clusters"][0]["cluster"])
    if server:
        cluster["server"] = server
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "target", "cluster": cluster}],
            "users": [{"name": "portal", "user": {"token": token}}],
            "contexts": [{"name": "portal", "context": {"cluster": "target", "user": "portal"}}],
            "current-context": "portal",
        }
    )


@contextmanager
def service_account_with_rules(admin_api: ApiClient, rules: list[dict]) -> Iterator[str]:
    """The token of a fresh ServiceAccount bound cluster-wide to exactly `rules`; all removed afterwards."""
    core, rbac = CoreV1Api(admin_api), RbacAuthorizationV1Api(admin_api)
    name = f"t-connect-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": {"gpu-portal.test/throwaway": "true"}}})
    try:
        core.create_namespaced_service_account(name, {"metadata": {"name": "portal"}})
        rbac.create_cluster_role({"metadata": {"name": name}, "rules": rules})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": "portal", "namespace": name}],
            }
        )
        # Kubernetes 1.20's token controller writes a Secret for every ServiceAccount.
        secrets = wait_until(
            lambda: core.read_namespaced_service_account("portal", name).secrets, timeout=60, what="its token"
        )
        token = core.read_namespaced_secret(secrets[0].name, name).data["token"]
        yield base64.b64decode(token).decode()
    finally:
        for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role, core.delete_namespace):
            try:
                delete(name)
            except ApiException as error:
                if error.status != 404:
                    raise
