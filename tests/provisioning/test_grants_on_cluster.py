"""Time-boxed grants on the real cluster, through a real worker: the ResourceQuota really goes up and back down.

The clock is moved with time-machine in the test process, whose thread runs the worker too; the test with
a killed worker runs workers in processes of their own, so its grant ends at an explicit instant instead.
"""

import copy
import signal
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from notifications.models import Notification
from portal.celery import app as celery_app
from provisioning import applying, pending
from provisioning.tasks import resume_requests
from teams import workflow
from teams.models import AuditEvent, Grant, Request, TeamNamespace
from teams.tasks import end_grants
from tests.kube import wait_quota_synced, wait_until
from tests.provisioning.test_tasks import verbs, wait_for_state
from tests.worker import worker_process

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.worker]

State = Request.State
GPU = "requests.nvidia.com/gpu"
QUOTA = "ml-research-quota"


@pytest.fixture
def live(world, research, cluster, core) -> TeamNamespace:
    """The seed's ml-research (8 guaranteed GPUs) under a name of its own, on the cluster."""
    applying.apply_namespace(research)
    wait_quota_synced(core, research.name, QUOTA)
    return TeamNamespace.objects.select_related("team", "tier").get(pk=research.pk)


def ask_until(world, namespace: TeamNamespace, gpus: str, until) -> Request:
    namespace = TeamNamespace.objects.select_related("team", "tier").get(pk=namespace.pk)
    quotas = copy.deepcopy(namespace.quotas)
    quotas[0]["hard"][GPU] = gpus
    request = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": quotas},
        justification="Paper deadline.",
        until=until,
    )
    return workflow.approve_request(request.pk, actor=world.approver, override_capacity=True)


def cluster_gpus(core, namespace: TeamNamespace) -> str:
    return core.read_namespaced_resource_quota(QUOTA, namespace.name).spec.hard[GPU]


def wait_gpus(core, namespace: TeamNamespace, gpus: str) -> None:
    wait_until(lambda: cluster_gpus(core, namespace) == gpus, timeout=60, what=f"{namespace.name} to hold {gpus} GPUs")


def beat() -> dict:
    """What beat runs, in the test's thread so that its counts come back (the portal keeps no task results);
    the reversions it approves are applied by the worker, as after any approval."""
    return end_grants()


def test_a_grant_is_applied_warned_about_extended_once_and_reverted_at_its_end(world, live, core, worker):
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        request = ask_until(world, live, "16", timezone.localdate() + timedelta(days=7))
        wait_for_state(request.pk, State.APPLIED)
        grant = Grant.objects.get(request=request)
        applied = cluster_gpus(core, live)

        traveller.move_to(grant.ends_at - timedelta(days=3) + timedelta(minutes=1))
        warned = beat()
        wait_until(
            lambda: Notification.objects.filter(recipient=world.research_member, text__contains="3 days left").exists(),
            timeout=60,
            what="the team to hear of the grant's end",
        )
        extension = workflow.submit_extension(
            grant.pk, actor=world.research_lead, until=grant.until + timedelta(days=7), justification="Reviews."
        )
        workflow.approve_request(extension.pk, actor=world.approver)
        wait_for_state(extension.pk, State.APPLIED)

        traveller.move_to(grant.ends_at + timedelta(minutes=1))
        at_first_end = (beat(), cluster_gpus(core, live))
        grant.refresh_from_db()
        traveller.move_to(grant.ends_at + timedelta(minutes=1))
        ended = beat()
        grant.refresh_from_db()
        reversion = wait_for_state(grant.reversion_id, State.APPLIED, State.FAILED)
        wait_gpus(core, live, "8")
        again = beat()

    assert applied == "16"
    assert warned == {"warned": 1, "ended": 0}
    assert at_first_end == ({"warned": 0, "ended": 0}, "16")
    assert (ended, again) == ({"warned": 0, "ended": 1}, {"warned": 0, "ended": 0})
    assert (reversion.state, reversion.last_error) == (State.APPLIED, "")
    assert TeamNamespace.objects.get(pk=live.pk).quotas[0]["hard"][GPU] == "8"
    events = AuditEvent.objects.filter(request=reversion).order_by("pk").values_list("verb", "actor__username")
    assert list(events) == [
        ("request.submitted", "gpu-portal-system"),
        ("request.approved", "gpu-portal-system"),
        ("request.applying", "gpu-portal-system"),
        ("request.applied", "gpu-portal-system"),
    ]
    assert Request.objects.filter(extends=grant).count() == 1
    assert Grant.objects.filter(reversion__isnull=False).count() == 1


def test_overlapping_grants_revert_on_the_cluster_in_the_defined_order(world, live, core, worker):
    """A: 12 until day 10; B: 16 until day 5. B's end restores A's 12, A's end the 8 from before both."""
    today = timezone.localdate()
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        first = ask_until(world, live, "12", today + timedelta(days=10))
        wait_for_state(first.pk, State.APPLIED)
        second = ask_until(world, live, "16", today + timedelta(days=5))
        wait_for_state(second.pk, State.APPLIED)
        both = cluster_gpus(core, live)

        seen = []
        for request in (second, first):
            traveller.move_to(Grant.objects.get(request=request).ends_at + timedelta(minutes=1))
            beat()
            wait_for_state(Grant.objects.get(request=request).reversion_id, State.APPLIED)
            seen.append(cluster_gpus(core, live))

    assert (both, seen) == ("16", ["12", "8"])


def test_a_worker_killed_mid_reversion_still_reverts_exactly_once(world, proxy, core, unique_name, settings, tmp_path):
    """The worker applying a grant's end is SIGKILLed while it waits on the API server; the next worker,
    sent the lost apply by resume_requests, finishes it: one reversion, applied once."""
    settings.PROVISIONING_STUCK_AFTER = 5
    environment = {"PROVISIONING_STUCK_AFTER_SECONDS": "5", "CELERY_VISIBILITY_TIMEOUT": "3600"}
    forwarder, _ = proxy
    namespace = world.namespace("ml-research")
    namespace.name = unique_name("killed-grant")
    namespace.save()
    celery_app.control.purge()
    with worker_process(tmp_path / "first.log", **environment) as first:
        applying.apply_namespace(namespace)
        request = ask_until(world, namespace, "16", timezone.localdate() + timedelta(days=2))
        wait_for_state(request.pk, State.APPLIED)
        wait_gpus(core, namespace, "16")
        grant = Grant.objects.get(request=request)
        forwarder.hang()  # the worker's next call to the API server never returns
        calls = forwarder.connections
        workflow.end_grant(grant.pk, now=grant.ends_at + timedelta(minutes=1))
        wait_until(lambda: forwarder.connections > calls, timeout=30, what="the worker to call the API server")
        grant.refresh_from_db()
        killed_while = Request.objects.get(pk=grant.reversion_id).state
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    forwarder.refuse()
    forwarder.forward()
    grant.refresh_from_db()
    workflow.end_grant(grant.pk, now=grant.ends_at + timedelta(minutes=2))  # beat again: already ended

    with worker_process(tmp_path / "second.log", **environment):
        wait_until(lambda: pending.overdue(timezone.now()).exists(), timeout=60, what="the killed apply to be overdue")
        resume_requests.delay()  # what beat does every minute
        reversion = wait_for_state(grant.reversion_id, State.APPLIED, State.FAILED, timeout=120)
        wait_gpus(core, namespace, "8")

    assert (killed_while, reversion.state) == (State.APPLYING, State.APPLIED)
    assert Request.objects.filter(requested_by__username="gpu-portal-system", namespace=namespace).count() == 1
    assert verbs(reversion).count("request.applied") == 1
    assert AuditEvent.objects.filter(verb="grant.ended", request=request).count() == 1
