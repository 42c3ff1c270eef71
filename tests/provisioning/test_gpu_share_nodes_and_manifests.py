"""Partitioned simulated nodes advertise MIG slices or shared GPUs; quotas render shares as requests.<name>."""

import argparse

import pytest

from provisioning.manifests import render_quotas
from provisioning.simulator.nodes import node_names, node_status
from provisioning.simulator.options import SimulatorOptions, add_arguments, options_from
from teams.catalog import TierCatalog
from teams.models import GpuTier, TeamNamespace

MIG = "nvidia.com/mig-1g.10gb=28,nvidia.com/mig-3g.40gb=4"


def options(*argv: str) -> SimulatorOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return options_from(vars(parser.parse_args(list(argv))))


def test_partitioned_nodes_come_after_the_whole_gpu_nodes_and_advertise_their_shares():
    simulated = options("--nodes", "2", "--partitioned-node", MIG, "--partitioned-node", "nvidia.com/gpu.shared=32")

    names = node_names(simulated)
    advertised = [
        {key: value for key, value in node_status(name, simulated)["allocatable"].items() if "nvidia" in key}
        for name in names
    ]

    assert names == ["gpu-node-0", "gpu-node-1", "gpu-node-2", "gpu-node-3"]
    assert advertised == [
        {"nvidia.com/gpu": "8"},
        {"nvidia.com/gpu": "8"},
        {"nvidia.com/mig-1g.10gb": "28", "nvidia.com/mig-3g.40gb": "4"},
        {"nvidia.com/gpu.shared": "32"},
    ]


@pytest.mark.parametrize("spec", ["nvidia.com/mig-1g.10gb", "mig=4", "nvidia.com/gpu.shared=-1", "a/b=1,"])
def test_a_partitioned_node_that_is_not_resource_equals_count_is_refused(spec):
    with pytest.raises(ValueError, match="expected RESOURCE=COUNT"):
        options("--partitioned-node", spec)


@pytest.mark.django_db
def test_enforced_burst_splits_whole_gpus_and_keeps_shares_as_requests_in_their_quota(world):
    best_effort = GpuTier.objects.get(slug="best-effort")
    best_effort.enforces_gpu_burst = True
    best_effort.save()
    scope = {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-low"]}]}
    namespace = TeamNamespace(
        name="shared-be",
        team=world.data_science,
        tier=best_effort,
        quotas=[
            {
                "name": "shared-be-quota",
                "hard": {"requests.nvidia.com/gpu": "4", "requests.nvidia.com/gpu.shared": "8", "pods": "10"},
                "scopeSelector": scope,
            }
        ],
    )

    rendered = {quota["metadata"]["name"]: quota["spec"] for quota in render_quotas(namespace, TierCatalog.load())}

    assert rendered["shared-be-quota"] == {
        "hard": {"requests.nvidia.com/gpu.shared": "8", "pods": "10"},
        "scopeSelector": scope,
    }
    assert rendered["shared-be-guaranteed"]["hard"] == {"requests.nvidia.com/gpu": "0"}
    assert rendered["shared-be-burst"]["hard"] == {"requests.nvidia.com/gpu": "4"}
