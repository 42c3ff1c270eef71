"""What the system approves reaches the real cluster through a real worker: an auto-approved increase and an
accepted downsize proposal change the namespace's ResourceQuota and LimitRange there."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chargeback.idle import propose_downsizes
from provisioning.models import ClusterConnection
from teams import workflow
from teams.events import system_actor
from teams.models import AutoApprovalRule, Request
from tests.kube import wait_until
from tests.requests import ask_for_gpus
from tests.usage import roll_up_until, seed_gpu_usage

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

State = Request.State


def wait_for_state(request_id: int, *states: str) -> Request:
    def reached() -> Request | None:
        request = Request.objects.get(pk=request_id)
        return request if request.state in states else None

    return wait_until(reached, timeout=60, what=f"request #{request_id} to become {' or '.join(states)}")


def test_an_auto_approved_increase_is_applied_to_the_cluster(world, cluster, research, core, worker):
    ClusterConnection.objects.filter(cluster=cluster).update(gpu_capacity=40, capacity_synced_at=timezone.now())
    now = timezone.now()
    seed_gpu_usage(research, now - timedelta(days=8), now, lambda hour: "7")
    roll_up_until(now)
    AutoApprovalRule.objects.create(
        name="Busy teams", order=1, mode="live", max_more_gpus=4, min_usage_percent=80, usage_days=7
    )

    request = ask_for_gpus(world, research, "12")
    request = wait_for_state(request.pk, State.APPLIED, State.FAILED)

    assert (request.state, request.reviewed_by) == (State.APPLIED, system_actor())
    quota = core.read_namespaced_resource_quota("ml-research-quota", research.name)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "12"


def test_an_accepted_downsize_proposal_is_applied_to_the_cluster(world, cluster, research, core, worker):
    now = timezone.now()
    seed_gpu_usage(research, now - timedelta(days=15), now, lambda hour: "2")
    roll_up_until(now)
    [proposal] = propose_downsizes(now)

    workflow.accept_proposal(proposal, actor=world.research_lead)
    request = wait_for_state(proposal, State.APPLIED, State.FAILED)

    assert (request.state, request.reviewed_by, request.last_error) == (State.APPLIED, world.research_lead, "")
    quota = core.read_namespaced_resource_quota("ml-research-quota", research.name)
    limits = core.read_namespaced_limit_range("ml-limit-range", research.name)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "3"
    assert limits.spec.limits[0].max["nvidia.com/gpu"] == "3"
