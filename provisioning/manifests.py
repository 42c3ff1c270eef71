"""The Kubernetes objects a namespace's desired state stands for: pure functions of model state.

What is rendered here is exactly what the gateway applies and what the portal shows
for download. Every object carries the ownership label, so that re-applying changes
nothing and the gateway can tell what the portal owns.
"""

import copy

import yaml

from teams.catalog import TierCatalog
from teams.constants import GPU_LIMIT_KEY, GUARANTEED_GPU_KEY, MANAGED_BY_LABEL, MANAGED_BY_VALUE
from teams.models import GpuTier, TeamNamespace
from teams.quantities import parse_quantity

OWNERSHIP = {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"
TEAM_ROLE_BINDING = "gpu-portal-team-edit"


def render_namespace_objects(namespace: TeamNamespace, catalog: TierCatalog) -> list[dict]:
    """Namespace, ResourceQuotas, LimitRange and RoleBinding, in the order they must be applied."""
    objects = [render_namespace(namespace), *render_quotas(namespace, catalog)]
    if namespace.limit_range:
        objects.append(render_limit_range(namespace))
    objects.append(render_role_binding(namespace))
    return objects


def render_namespace(namespace: TeamNamespace) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace.name, "labels": {**namespace.desired_labels, **OWNERSHIP}},
    }


def render_quotas(namespace: TeamNamespace, catalog: TierCatalog) -> list[dict]:
    """The desired quotas; with the tier's enforced burst, the GPU limit becomes a real quota.

    Enforced burst splits the whole GPUs out of each quota: `<namespace>-guaranteed` holds the
    guaranteed GPUs for every pod not at a preemptible PriorityClass (pods that name no
    class included: checked on a real API server), and `<namespace>-burst` holds limit
    minus guaranteed for pods at the preemptible classes only. MIG slices and shared GPUs
    stay in their quotas as `requests.<resource>`, the only form Kubernetes counts.
    """
    quotas = [copy.deepcopy(quota) for quota in namespace.quotas]
    if namespace.tier.enforces_gpu_burst and catalog.preemptible_classes:
        quotas = _enforced_burst(namespace, quotas, catalog)
    return [_quota_object(namespace.name, quota) for quota in quotas]


def _enforced_burst(namespace: TeamNamespace, quotas: list[dict], catalog: TierCatalog) -> list[dict]:
    allocation = catalog.gpu_allocation(namespace.quotas, namespace.tier)
    preemptible = sorted(catalog.preemptible_classes)
    kept = []
    for quota in quotas:
        quota["hard"].pop(GUARANTEED_GPU_KEY, None)
        quota["hard"].pop(GPU_LIMIT_KEY, None)
        if quota["hard"]:
            kept.append(quota)

    def scoped(name: str, gpus: int, operator: str) -> dict:
        expression = {"scopeName": "PriorityClass", "operator": operator, "values": preemptible}
        return {
            "name": f"{namespace.name}-{name}",
            "hard": {GUARANTEED_GPU_KEY: str(gpus)},
            "scopeSelector": {"matchExpressions": [expression]},
        }

    burst = allocation.whole_limit - allocation.whole_guaranteed
    return [*kept, scoped("guaranteed", allocation.whole_guaranteed, "NotIn"), scoped("burst", burst, "In")]


def _quota_object(namespace: str, quota: dict) -> dict:
    spec: dict = {"hard": dict(quota["hard"])}
    if quota.get("scopeSelector"):
        spec["scopeSelector"] = copy.deepcopy(quota["scopeSelector"])
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": quota["name"], "namespace": namespace, "labels": dict(OWNERSHIP)},
        "spec": spec,
    }


def render_limit_range(namespace: TeamNamespace) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": namespace.limit_range["name"], "namespace": namespace.name, "labels": dict(OWNERSHIP)},
        "spec": {"limits": copy.deepcopy(namespace.limit_range["limits"])},
    }


def render_role_binding(namespace: TeamNamespace) -> dict:
    """The team's group may `edit` in its namespace: run pods and Jobs, never change quotas."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": TEAM_ROLE_BINDING, "namespace": namespace.name, "labels": dict(OWNERSHIP)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": namespace.team.kubernetes_group}
        ],
    }


def render_priority_class(tier: GpuTier) -> dict:
    return {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": tier.priority_class_name, "labels": dict(OWNERSHIP)},
        "value": tier.priority_value,
        "globalDefault": False,
        "preemptionPolicy": tier.preemption_policy,
        "description": tier.description,
    }


#: A pinned image: `:latest` changes under a team's feet and defeats reproducible runs.
JOB_EXAMPLE_IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
#: CPU and memory a trainer asks for when the LimitRange names neither a default request nor a minimum.
JOB_EXAMPLE_REQUESTS = {"cpu": "1", "memory": "4Gi"}


def render_job_example(namespace: TeamNamespace, gpus: int = 4) -> dict:
    """A training Job that runs at the namespace's tier, as the seed's "Using Priority" example,
    with GPU request equal to limit and CPU and memory requests the namespace's LimitRange admits."""
    requests = {**job_example_requests(namespace), "nvidia.com/gpu": gpus}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "training", "namespace": namespace.name},
        "spec": {
            "template": {
                "spec": {
                    "priorityClassName": namespace.tier.priority_class_name,
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "trainer",
                            "image": JOB_EXAMPLE_IMAGE,
                            "resources": {"requests": requests, "limits": {"nvidia.com/gpu": gpus}},
                        }
                    ],
                }
            }
        },
    }


def job_example_requests(namespace: TeamNamespace) -> dict[str, str]:
    """CPU and memory requests within the Container LimitRange: its default request, else our example
    raised to its min and lowered to its max (the API server refuses a pod outside them)."""
    container = next(
        (item for item in namespace.limit_range.get("limits") or [] if item.get("type") == "Container"), {}
    )
    chosen = {}
    for resource, example in JOB_EXAMPLE_REQUESTS.items():
        value = (container.get("defaultRequest") or {}).get(resource)
        if value is None:
            value = example
            low, high = ((container.get(bound) or {}).get(resource) for bound in ("min", "max"))
            if low is not None and parse_quantity(low) > parse_quantity(value):
                value = low
            if high is not None and parse_quantity(high) < parse_quantity(value):
                value = high
        chosen[resource] = str(value)
    return chosen


def to_yaml(objects: list[dict]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)
