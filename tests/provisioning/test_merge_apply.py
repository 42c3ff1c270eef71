"""A partial request reaches the real cluster through a real worker without deleting what it omits."""

import pytest

from teams import workflow
from teams.models import Request, TeamNamespace
from tests.kube import wait_until
from tests.requests import ask_for_namespace

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

State = Request.State
GPU = "requests.nvidia.com/gpu"


def applied(request_id: int) -> Request:
    def reached() -> Request | None:
        request = Request.objects.get(pk=request_id)
        return request if request.state in (State.APPLIED, State.FAILED) else None

    request = wait_until(reached, timeout=60, what=f"request #{request_id} to be applied")
    assert (request.state, request.last_error) == (State.APPLIED, "")
    return request


def change_quota(world, namespace: TeamNamespace, hard: dict) -> Request:
    return workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": [{"name": "ml-research-quota", "hard": hard}]},
        justification="The vision group grows.",
    )


def test_a_partial_quota_keeps_the_other_keys_on_the_cluster_and_null_removes_one(
    world, cluster, core, worker, unique_name
):
    created = ask_for_namespace(world, unique_name("merge"))
    workflow.approve_request(created.pk, actor=world.approver)
    name = applied(created.pk).namespace_name
    seeded = dict(world.namespace("ml-research").quotas[0]["hard"])

    more_gpus = change_quota(world, TeamNamespace.objects.get(name=name), {GPU: "14"})
    workflow.approve_request(more_gpus.pk, actor=world.approver)
    applied(more_gpus.pk)
    after_partial = core.read_namespaced_resource_quota("ml-research-quota", name).spec.hard
    no_configmaps = change_quota(world, TeamNamespace.objects.get(name=name), {"configmaps": None})
    workflow.approve_request(no_configmaps.pk, actor=world.approver)
    applied(no_configmaps.pk)
    after_removal = core.read_namespaced_resource_quota("ml-research-quota", name).spec.hard

    assert after_partial == {**seeded, GPU: "14"}
    assert len(after_partial) == 12
    expected = {**seeded, GPU: "14"}
    del expected["configmaps"]
    assert after_removal == expected
