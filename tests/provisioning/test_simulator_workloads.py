"""The demo's workload stream stays in the namespaces it is given: others on a shared cluster are left alone."""

import argparse
import threading

from kubernetes.client import ApiClient, V1Namespace, V1NamespaceStatus, V1ObjectMeta

from provisioning.simulator.options import add_arguments, options_from
from provisioning.simulator.workloads import WorkloadGenerator


def generator(*argv: str) -> WorkloadGenerator:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = options_from(vars(parser.parse_args(["--workloads-only", *argv])))
    return WorkloadGenerator(ApiClient(), options, threading.Event())


def namespace(name: str, phase: str = "Active") -> V1Namespace:
    return V1Namespace(metadata=V1ObjectMeta(name=name), status=V1NamespaceStatus(phase=phase))


LISTED = [namespace("ml-research"), namespace("someone-elses-test-4f2a"), namespace("ml-old", "Terminating")]


def test_workloads_land_only_in_the_namespaces_named():
    named = generator("--workload-namespace", "ml-research", "--workload-namespace", "ml-old")

    assert [ns.metadata.name for ns in named.eligible(LISTED)] == ["ml-research"]


def test_without_names_every_active_managed_namespace_gets_workloads():
    assert [ns.metadata.name for ns in generator().eligible(LISTED)] == ["ml-research", "someone-elses-test-4f2a"]
