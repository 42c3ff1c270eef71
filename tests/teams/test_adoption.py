"""Desired state that comes from outside a team lead's request still goes through the workflow.

Adoption is an approver's request that the system actor approves, audited with its diff;
the demo's seed is the system's, audited, and enqueues no apply.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from teams import workflow
from teams.demo import seed_demo
from teams.events import SYSTEM_USERNAME, event_recorded
from teams.models import AuditEvent, GpuTier, Request, TeamNamespace
from teams.policy import PolicyError

OBSERVED = {
    "labels": {},
    "quotas": [{"name": "legacy-quota", "hard": {"requests.nvidia.com/gpu": "4", "pods": "20"}}],
    "limitRange": {},
}


def adopt(world, name: str = "legacy", observed: dict | None = None, by=None) -> Request:
    return workflow.adopt_namespace(
        actor=by or world.approver,
        team=world.research,
        tier=GpuTier.objects.get(slug="high-priority"),
        name=name,
        observed=observed or OBSERVED,
    )


def test_adopting_is_an_approvers_request_approved_by_the_system_with_its_diff_audited(world):
    request = adopt(world)

    namespace = TeamNamespace.objects.get(name="legacy")
    assert (request.kind, request.state, request.namespace) == ("adopt_namespace", "approved", namespace)
    assert (request.requested_by, request.reviewed_by.username) == (world.approver, SYSTEM_USERNAME)
    assert namespace.adopted_at is not None
    assert namespace.quotas == [{"name": "legacy-quota", "hard": {"pods": "20", "requests.nvidia.com/gpu": "4"}}]
    submitted, approved = AuditEvent.objects.filter(request=request).order_by("pk")
    assert (submitted.verb, submitted.actor) == ("request.submitted", world.approver)
    assert (approved.verb, approved.actor.username) == ("request.approved", SYSTEM_USERNAME)
    assert approved.before == {"state": "pending", "spec": OBSERVED}
    assert approved.after["spec"] == {
        "tier": "high-priority",
        "labels": {},
        "quotas": namespace.quotas,
        "limitRange": {},
    }
    assert approved.after["capacity"]["guaranteed_after"] == approved.after["capacity"]["guaranteed_now"] + 4


def test_an_approved_adoption_is_handed_to_provisioning_like_any_approval(world, django_capture_on_commit_callbacks):
    heard = []

    def listening(sender, event, **kwargs):
        heard.append((event.verb, event.request_id))

    event_recorded.connect(listening)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            request = adopt(world)
    finally:
        event_recorded.disconnect(listening)

    assert heard == [("request.submitted", request.pk), ("request.approved", request.pk)]


@pytest.mark.parametrize(
    ("name", "observed", "error", "field"),
    [
        ("kube-system", OBSERVED, ValidationError, "name"),
        ("ml-research", OBSERVED, ValidationError, "name"),
        (
            "legacy",
            {**OBSERVED, "quotas": [{"name": "legacy-quota", "hard": {"requests.nvidia.com/gpu": "500"}}]},
            PolicyError,
            "quotas[legacy-quota]",
        ),
    ],
    ids=["reserved", "managed", "over-the-tier"],
)
def test_an_adoption_the_policy_refuses_stores_nothing(world, name, observed, error, field):
    """The error names the field to change (its quota, for the policy's own wording of the key)."""
    requests, events = Request.objects.count(), AuditEvent.objects.count()

    with pytest.raises(error) as raised:
        adopt(world, name=name, observed=observed)

    assert [key.split(".")[0] for key in raised.value.message_dict] == [field]
    assert (Request.objects.count(), AuditEvent.objects.count()) == (requests, events)


def test_only_approvers_adopt(world):
    with pytest.raises(PermissionDenied):
        adopt(world, by=world.research_lead)

    assert not TeamNamespace.objects.filter(name="legacy").exists()


def test_a_team_lead_cannot_ask_to_adopt(world):
    with pytest.raises(PolicyError) as raised:
        workflow.submit_request(
            actor=world.research_lead,
            team=world.research,
            kind="adopt_namespace",
            proposed=OBSERVED,
            justification="mine now",
            namespace_name="legacy",
        )

    assert list(raised.value.message_dict) == ["kind"]


def test_seeding_writes_desired_state_as_the_system_and_enqueues_no_apply(world, django_capture_on_commit_callbacks):
    TeamNamespace.objects.filter(name="ml-research").update(quotas=[])
    heard = []

    def listening(sender, event, **kwargs):
        heard.append(event.verb)

    event_recorded.connect(listening)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            lines = seed_demo()
            again = seed_demo()
    finally:
        event_recorded.disconnect(listening)

    assert "ml-research: reset to the seed's desired state" in lines
    assert not any("reset" in line or "created" in line for line in again)
    assert heard == ["namespace.seeded"]
    event = AuditEvent.objects.filter(verb="namespace.seeded").latest("pk")
    assert (event.actor.username, event.target) == (SYSTEM_USERNAME, "namespace:default/ml-research")
    assert event.before["spec"]["quotas"] == []
    assert event.after["spec"]["quotas"] == world.namespace("ml-research").quotas
    assert not Request.objects.exists()


def test_the_request_forms_offer_no_adoption(world, client):
    client.force_login(world.research_lead)

    page = client.get("/requests/new/adopt_namespace/?cluster=default&namespace=ml-research")
    posted = client.post("/requests/new/adopt_namespace/", {"namespace": "ml-research", "justification": "mine"})

    assert (page.status_code, posted.status_code) == (403, 403)
    assert not Request.objects.exists()


def test_an_adoption_shows_on_the_request_page_and_in_the_api(world, client):
    request = adopt(world)
    client.force_login(world.approver)

    page = client.get(f"/requests/{request.pk}/")
    api = client.get(f"/api/v1/requests/{request.pk}/")

    assert page.status_code == 200
    assert "Adopt namespace" in page.content.decode()
    assert (api.status_code, api.json()["kind"], api.json()["state"]) == (200, "adopt_namespace", "approved")
