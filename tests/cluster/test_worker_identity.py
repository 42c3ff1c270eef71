"""The portal worker's identity (cluster/rbac.yaml) can provision a team
namespace and read usage, and nothing more: no secrets, no exec, no roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes.client import ApiClient, CoreV1Api, RbacAuthorizationV1Api, SchedulingV1Api
from kubernetes.client.exceptions import ApiException

from tests.kube import GPU, api_message
from tests.seed import seed_manifest

pytestmark = pytest.mark.cluster

APPLY = "application/apply-patch+yaml"
FIELD_MANAGER = "gpu-portal"
WORKER = "gpu-portal-worker"


@pytest.fixture
def worker_namespace(core: CoreV1Api, worker_api: ApiClient) -> Iterator[str]:
    """A namespace created by the worker itself, as provisioning does; deleted by the admin after."""
    name = f"t-worker-{uuid.uuid4().hex[:6]}"
    CoreV1Api(worker_api).create_namespace(
        {
            "metadata": {
                "name": name,
                "labels": {"app.kubernetes.io/managed-by": "gpu-portal-test", "gpu-portal.test/throwaway": "true"},
            }
        }
    )
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


def test_worker_applies_a_team_namespace(worker_api: ApiClient, worker_namespace: str) -> None:
    core = CoreV1Api(worker_api)
    quota = seed_manifest("ResourceQuota", "ml-research-quota", worker_namespace)
    limit_range = seed_manifest("LimitRange", "ml-limit-range", worker_namespace)

    applied_quota = core.patch_namespaced_resource_quota(
        "ml-research-quota", worker_namespace, quota, field_manager=FIELD_MANAGER, _content_type=APPLY
    )
    core.patch_namespaced_limit_range(
        "ml-limit-range", worker_namespace, limit_range, field_manager=FIELD_MANAGER, _content_type=APPLY
    )
    dry_run = core.patch_namespace(
        worker_namespace,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": worker_namespace, "labels": {"team": "x"}}},
        field_manager=FIELD_MANAGER,
        dry_run="All",
        _content_type=APPLY,
    )
    binding = RbacAuthorizationV1Api(worker_api).create_namespaced_role_binding(
        worker_namespace,
        {
            "metadata": {"name": "team-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team:research"}],
        },
    )

    assert applied_quota.spec.hard[f"requests.{GPU}"] == "8"
    assert {entry.manager for entry in applied_quota.metadata.managed_fields} == {FIELD_MANAGER}
    assert dry_run.metadata.labels["team"] == "x"
    assert binding.role_ref.name == "edit"
    assert [q.metadata.name for q in core.list_namespaced_resource_quota(worker_namespace).items] == [
        "ml-research-quota"
    ]


def test_worker_reads_usage_and_capacity_across_the_cluster(worker_api: ApiClient) -> None:
    core = CoreV1Api(worker_api)

    quotas = core.list_resource_quota_for_all_namespaces()
    nodes = core.list_node()
    classes = SchedulingV1Api(worker_api).list_priority_class()
    refusals = core.list_event_for_all_namespaces(field_selector="reason=FailedCreate", limit=1)

    assert quotas.metadata.resource_version
    assert any(GPU in (node.status.allocatable or {}) for node in nodes.items)
    assert classes.items
    assert refusals.metadata.resource_version


def forbidden(call: Callable[[], object]) -> str:
    with pytest.raises(ApiException) as refused:
        call()
    assert refused.value.status == 403
    return api_message(refused.value)


def test_worker_is_refused_secrets_exec_and_roles(worker_api: ApiClient, worker_namespace: str) -> None:
    core = CoreV1Api(worker_api)
    rbac = RbacAuthorizationV1Api(worker_api)
    role = {
        "metadata": {"name": "escalate"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
    }

    assert forbidden(lambda: core.list_namespaced_secret("kube-system")) == (
        f'secrets is forbidden: User "{WORKER}" cannot list resource "secrets" in API group "" '
        'in the namespace "kube-system"'
    )
    assert forbidden(
        lambda: core.create_namespaced_secret(worker_namespace, {"metadata": {"name": "s"}, "stringData": {"a": "b"}})
    ) == (
        f'secrets is forbidden: User "{WORKER}" cannot create resource "secrets" in API group "" '
        f'in the namespace "{worker_namespace}"'
    )
    assert forbidden(lambda: core.connect_post_namespaced_pod_exec("any-pod", worker_namespace, command=["sh"])) == (
        f'pods "any-pod" is forbidden: User "{WORKER}" cannot create resource "pods/exec" in API group "" '
        f'in the namespace "{worker_namespace}"'
    )
    assert forbidden(lambda: rbac.list_namespaced_role("kube-system")) == (
        f'roles.rbac.authorization.k8s.io is forbidden: User "{WORKER}" cannot list resource "roles" '
        'in API group "rbac.authorization.k8s.io" in the namespace "kube-system"'
    )
    assert forbidden(lambda: rbac.create_namespaced_role("default", role)) == (
        f'roles.rbac.authorization.k8s.io is forbidden: User "{WORKER}" cannot create resource "roles" '
        'in API group "rbac.authorization.k8s.io" in the namespace "default"'
    )


def test_worker_may_bind_only_the_edit_cluster_role(worker_api: ApiClient, worker_namespace: str) -> None:
    binding = {
        "metadata": {"name": "team-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team:research"}],
    }

    message = forbidden(
        lambda: RbacAuthorizationV1Api(worker_api).create_namespaced_role_binding(worker_namespace, binding)
    )

    assert message.startswith(
        f'rolebindings.rbac.authorization.k8s.io "team-admin" is forbidden: user "{WORKER}" '
        '(groups=["gpu-portal:workers" "system:authenticated"]) is attempting to grant RBAC permissions not '
        "currently held"
    )
