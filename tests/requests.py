"""Requests as a team lead submits them, for the tests of every layer."""

import copy

from teams import workflow
from teams.models import Cluster, Request, TeamNamespace


def ask_for_namespace(world, name: str = "ml-research-2", cluster: Cluster | None = None) -> Request:
    """research-lead asks for a namespace shaped like ml-research (on the default cluster unless told)."""
    research = world.namespace("ml-research")
    return workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CREATE_NAMESPACE,
        namespace_name=name,
        cluster=cluster,
        proposed={
            "tier": "high-priority",
            "quotas": copy.deepcopy(research.quotas),
            "limitRange": research.limit_range,
        },
        justification="A second training namespace for the vision group.",
    )


def ask_for_gpus(world, namespace: TeamNamespace, gpus: str, until: object = None) -> Request:
    """research-lead asks for `gpus` guaranteed GPUs in the namespace's first quota (until a date: a grant)."""
    quotas = copy.deepcopy(namespace.quotas)
    quotas[0]["hard"]["requests.nvidia.com/gpu"] = gpus
    return workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": quotas},
        justification="ICML deadline: more GPUs for three weeks.",
        until=until,
    )
