"""Golden tests: the seed's world renders as the tutorial's YAML, plus ownership and the three fixes."""

import copy

import pytest

from provisioning.applying import desired_objects
from provisioning.cluster import ClusterGateway
from provisioning.manifests import OWNERSHIP, render_job_example, render_priority_class, to_yaml
from teams.models import GpuTier, TeamNamespace
from tests.seed import seed_documents, seed_manifest

pytestmark = pytest.mark.django_db


def owned(document: dict) -> dict:
    document["metadata"].setdefault("labels", {}).update(OWNERSHIP)
    return document


def rendered_world() -> dict[tuple[str, str, str], dict]:
    objects = {}
    for namespace in TeamNamespace.objects.select_related("team__cost_center", "tier"):
        for manifest in desired_objects(namespace):
            key = (manifest["kind"], manifest["metadata"].get("namespace", ""), manifest["metadata"]["name"])
            objects[key] = manifest
    return objects


def expected_from_seed() -> dict[tuple[str, str, str], dict]:
    """The tutorial's documents with the ownership label and the three corrections, nothing else.

    (The tutorial has no quota document for ml-experiments: the portal renders its intent.)
    """
    expected = {}
    for document in seed_documents():
        if document["kind"] == "Job":
            continue
        document = owned(document)
        if document["kind"] == "ResourceQuota":
            document["spec"]["hard"] = {key: str(value) for key, value in document["spec"]["hard"].items()}
        expected[(document["kind"], document["metadata"].get("namespace", ""), document["metadata"]["name"])] = document
    # 1. The LimitRange gives containers 0 GPUs unless they ask.
    container = expected["LimitRange", "ml-research", "ml-limit-range"]["spec"]["limits"][0]
    container["default"]["nvidia.com/gpu"] = "0"
    container["defaultRequest"]["nvidia.com/gpu"] = "0"
    # 2. The production quota names the PriorityClasses that exist.
    production = expected["ResourceQuota", "ml-production", "ml-production-quota"]
    production["spec"]["scopeSelector"]["matchExpressions"][0]["values"] = ["ml-critical", "ml-high"]
    # 3. Its object count moves to an unscoped quota.
    services = production["spec"]["hard"].pop("services")
    objects = owned(copy.deepcopy(production))
    objects["metadata"]["name"] = "ml-production-objects"
    objects["spec"] = {"hard": {"services": services}}
    expected["ResourceQuota", "ml-production", "ml-production-objects"] = objects
    return expected


def test_the_seed_world_renders_as_the_tutorials_manifests_with_only_the_corrections(world):
    rendered = rendered_world()
    expected = expected_from_seed()

    for key, document in expected.items():
        assert rendered[key] == document, key
    extra = {key for key in rendered if key not in expected}
    assert extra == {
        ("ResourceQuota", "ml-experiments", "ml-experiments-quota"),
        ("ResourceQuota", "ml-experiments", "ml-experiments-guaranteed"),
        ("RoleBinding", "ml-research", "gpu-portal-team-edit"),
        ("RoleBinding", "ml-production", "gpu-portal-team-edit"),
        ("RoleBinding", "ml-experiments", "gpu-portal-team-edit"),
    }
    # "8 GPUs limit, 0 guaranteed": 8 for pods at the preemptible ml-low, none for any other pod.
    assert rendered["ResourceQuota", "ml-experiments", "ml-experiments-quota"]["spec"] == {
        "hard": {"requests.nvidia.com/gpu": "8"},
        "scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-low"]}]},
    }
    assert rendered["ResourceQuota", "ml-experiments", "ml-experiments-guaranteed"]["spec"] == {
        "hard": {"requests.nvidia.com/gpu": "0"},
        "scopeSelector": {
            "matchExpressions": [{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["ml-low"]}]
        },
    }
    binding = rendered["RoleBinding", "ml-research", "gpu-portal-team-edit"]
    assert binding["roleRef"]["name"] == "edit"
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "gpu-portal:research"}
    ]


@pytest.mark.cluster
def test_every_rendered_object_of_the_seed_world_is_accepted_by_the_real_api_server(world, cluster, unique_name):
    with ClusterGateway(cluster) as gateway:
        for namespace in TeamNamespace.objects.select_related("team__cost_center", "tier"):
            namespace.name = unique_name(namespace.name)
            objects = desired_objects(namespace)

            applied = gateway.apply_namespace(namespace.name, objects)

            assert [(item.kind, item.name) for item in applied] == [
                (manifest["kind"], manifest["metadata"]["name"]) for manifest in objects
            ]


def test_priority_classes_are_the_seeds(world):
    for tier in GpuTier.objects.all():
        assert render_priority_class(tier) == owned(seed_manifest("PriorityClass", tier.priority_class_name))


def test_the_job_example_runs_at_the_namespace_tier_like_the_seeds(world):
    job = render_job_example(world.namespace("ml-research"))
    seed_job = seed_manifest("Job", "research-training")

    container = job["spec"]["template"]["spec"]["containers"][0]
    assert job["spec"]["template"]["spec"]["priorityClassName"] == "ml-high"
    # The seed's GPU limit, with requests added: GPUs equal to it, CPU and memory the LimitRange's default.
    seed_container = seed_job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == seed_container["resources"]["limits"]
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": 4}


def test_yaml_rendering_round_trips(world):
    import yaml

    objects = desired_objects(world.namespace("ml-production"))

    assert list(yaml.safe_load_all(to_yaml(objects))) == objects


def test_a_namespace_brings_every_priority_class_its_quotas_are_scoped_to(world):
    tier = GpuTier.objects.get(slug="high-priority")
    tier.enforces_gpu_burst = True
    tier.save()

    def priority_classes(name: str) -> list[str]:
        return [o["metadata"]["name"] for o in desired_objects(world.namespace(name)) if o["kind"] == "PriorityClass"]

    research, production = priority_classes("ml-research"), priority_classes("ml-production")

    assert research == ["ml-high", "ml-low"]  # its burst quota counts pods at ml-low
    assert production == ["ml-critical", "ml-high"]  # its quota is scoped to both
