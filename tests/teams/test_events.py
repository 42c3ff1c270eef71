"""The events module: the one writer of audit rows, its system actor, and its subscribers."""

import re
from pathlib import Path

import pytest
from django.test import Client

from teams import events, workflow
from teams.events import SYSTEM_USERNAME, event_recorded, system_actor
from teams.models import AuditEvent
from tests.requests import ask_for_gpus

ROOT = Path(__file__).resolve().parents[2]
DIRECT_WRITE = re.compile(
    r"AuditEvent\.objects\.(create|bulk_create|get_or_create|update_or_create)|(?<!class )AuditEvent\("
)


def test_only_the_events_module_writes_audit_rows():
    offenders = [
        str(path.relative_to(ROOT))
        for app in ("portal", "teams", "provisioning", "chargeback", "accounts")
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path != ROOT / "teams" / "events.py"
        if DIRECT_WRITE.search(path.read_text())
    ]
    assert offenders == []


def test_the_system_actor_exists_after_migrate_and_cannot_sign_in(db):
    system = system_actor()

    assert system.username == SYSTEM_USERNAME
    assert (system.is_active, system.has_usable_password()) == (False, False)
    assert Client().login(username=SYSTEM_USERNAME, password="") is False


def test_an_event_without_an_actor_is_refused(db):
    with pytest.raises(ValueError, match="every event needs an actor"):
        events.record("namespace.applied", actor=None, target="namespace:ml-research")

    assert AuditEvent.objects.count() == 0


def test_subscribers_hear_of_an_event_only_after_commit_and_a_failing_one_changes_nothing(
    world, django_capture_on_commit_callbacks, caplog
):
    heard = []

    def failing(sender, event, **kwargs):
        raise RuntimeError("the mail server is down")

    def listening(sender, event, **kwargs):
        heard.append(event.verb)

    event_recorded.connect(failing)
    event_recorded.connect(listening)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            request = ask_for_gpus(world, world.namespace("ml-research"), "14")
            workflow.cancel_request(request.pk, actor=world.research_lead)
    finally:
        event_recorded.disconnect(failing)
        event_recorded.disconnect(listening)

    assert heard == ["request.submitted", "request.cancelled"]
    request.refresh_from_db()
    assert request.state == "cancelled"
    assert [record.message for record in caplog.records if record.message == "event.subscriber_failed"] == [
        "event.subscriber_failed",
        "event.subscriber_failed",
    ]


def test_what_provisioning_does_is_done_by_the_system_actor(world, second_approver):
    request = ask_for_gpus(world, world.namespace("ml-research"), "14")
    workflow.approve_request(request.pk, actor=second_approver)
    workflow.mark_applying(request.pk, actor=system_actor())
    workflow.mark_applied(request.pk, actor=system_actor())

    actors = list(AuditEvent.objects.filter(request=request).values_list("verb", "actor__username"))
    assert actors == [
        ("request.submitted", "research-lead"),
        ("request.approved", "approver-2"),
        ("request.applying", SYSTEM_USERNAME),
        ("request.applied", SYSTEM_USERNAME),
    ]
