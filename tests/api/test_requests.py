"""Requests through the API: the same workflow as the pages, its errors mapped to status codes."""

import copy

import pytest
from django.utils import timezone

from teams import workflow
from teams.events import system_actor
from teams.models import AuditEvent, Cluster, Request
from tests.clusters import connect
from tests.requests import ask_for_namespace

State = Request.State
URL = "/api/v1/requests/"


def create_body(world, **overrides) -> dict:
    research = world.namespace("ml-research")
    body = {
        "kind": "create_namespace",
        "team": "research",
        "namespace_name": "ml-research-2",
        "proposed_spec": {
            "tier": "high-priority",
            "quotas": copy.deepcopy(research.quotas),
            "limitRange": research.limit_range,
        },
        "justification": "A second training namespace for the vision group.",
    }
    return {**body, **overrides}


def test_a_lead_submits_a_request_and_it_is_stored_pending_with_its_audit_event(world, clients):
    response = clients.lead_a.post(URL, create_body(world), format="json")

    assert response.status_code == 201
    created = Request.objects.get()
    assert response.json()["id"] == created.pk
    assert response.json()["state"] == "pending"
    assert response.json()["team"] == "research"
    assert response.json()["requested_by"] == "research-lead"
    assert [w["code"] for w in response.json()["warnings"]] == ["gpu_limit_not_enforced"]
    assert AuditEvent.objects.get(request=created).verb == "request.submitted"


def test_a_request_against_policy_is_a_400_naming_each_field_as_the_policy_does(world, clients):
    body = create_body(world, namespace_name="kube-x", justification=" ")
    body["proposed_spec"]["quotas"][0]["hard"]["requests.nvidia.com/gpu"] = "lots"

    response = clients.lead_a.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "code": "invalid",
        "detail": "Fix the fields named in `fields`: namespace_name, quotas[ml-research-quota].hard"
        "[requests.nvidia.com/gpu], justification.",
        "fields": {
            "namespace_name": ["'kube-x' is reserved for the cluster itself (default, kube-*, openshift-*)."],
            "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]": [
                "Not a valid quantity: 'lots' is not a quantity: expected a number with an optional suffix such "
                "as m, Gi or k."
            ],
            "justification": ["Say why the team needs this; approvers read it."],
        },
    }
    assert Request.objects.count() == 0


def test_a_change_names_its_namespace_by_name(world, clients):
    quotas = copy.deepcopy(world.namespace("ml-research").quotas)
    quotas[0]["hard"]["requests.nvidia.com/gpu"] = "12"
    body = {
        "kind": "change_quota",
        "team": "research",
        "namespace": "ml-research",
        "proposed_spec": {"quotas": quotas},
        "justification": "More GPUs for the vision group.",
    }

    response = clients.lead_a.post(URL, body, format="json")

    assert response.status_code == 201
    assert response.json()["namespace"] == world.namespace("ml-research").pk
    assert response.json()["namespace_name"] == "ml-research"


def test_another_teams_namespace_or_team_does_not_exist_for_a_lead(world, clients):
    body = create_body(world, kind="change_quota", namespace="ml-production", proposed_spec={"quotas": []})

    other_namespace = clients.lead_a.post(URL, body, format="json")
    other_team = clients.lead_a.post(URL, create_body(world, team="platform"), format="json")

    assert other_namespace.status_code == 400
    assert other_namespace.json()["fields"] == {
        "namespace": ["There is no namespace 'ml-production' on cluster 'default' you can see."]
    }
    assert other_team.status_code == 400
    assert other_team.json()["fields"] == {"team": ["Object with slug=platform does not exist."]}


@pytest.mark.parametrize("persona", ["member", "finance", "approver"])
def test_only_a_lead_of_the_team_submits(world, clients, persona):
    response = clients[persona].post(URL, create_body(world), format="json")

    assert response.status_code == 403
    assert response.json() == {
        "status": 403,
        "code": "permission_denied",
        "detail": "Only a lead of team research can submit its requests.",
        "fields": {},
    }


def test_an_approver_approves_with_a_note_and_approving_twice_is_a_conflict(world, clients, pending_request):
    url = f"{URL}{pending_request.pk}/approve/"

    first = clients.approver.post(url, {"note": "Fine."}, format="json")
    second = clients.approver.post(url, {}, format="json")

    assert first.status_code == 200
    assert (first.json()["state"], first.json()["reviewed_by"], first.json()["decision_note"]) == (
        "approved",
        "approver",
        "Fine.",
    )
    assert second.status_code == 409
    assert second.json() == {
        "status": 409,
        "code": "invalid_transition",
        "detail": f"Request #{pending_request.pk} is approved; only a pending request can become approved.",
        "fields": {},
    }


@pytest.fixture
def small_cluster(db) -> Cluster:
    return connect("default", is_default=True, gpu_capacity=30, capacity_synced_at=timezone.now())


def test_an_approval_beyond_capacity_is_a_409_with_the_numbers_unless_overridden(world, clients, small_cluster):
    request = ask_for_namespace(world)
    url = f"{URL}{request.pk}/approve/"

    refused = clients.approver.post(url, {}, format="json")
    overridden = clients.approver.post(url, {"override_capacity": True}, format="json")

    assert refused.status_code == 409
    assert refused.json() == {
        "status": 409,
        "code": "capacity_exceeded",
        "detail": "Approving would guarantee 32 GPUs on a cluster with 30; confirm the override to approve anyway.",
        "fields": {},
        "capacity": {"cluster": "default", "capacity": 30, "guaranteed_now": 24, "guaranteed_after": 32},
    }
    assert overridden.status_code == 200
    event = AuditEvent.objects.get(request=request, verb="request.approved")
    assert event.after["capacity"] == {
        "cluster": "default",
        "capacity": 30,
        "guaranteed_now": 24,
        "guaranteed_after": 32,
        "overridden": True,
    }


def test_nobody_approves_their_own_request(world, clients, second_approver):
    request = workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.DELETE_NAMESPACE,
        namespace=world.namespace("ml-research"),
        proposed={},
        justification="Done with it.",
    )
    request.requested_by = world.approver
    Request.objects.filter(pk=request.pk).update(requested_by=world.approver)

    response = clients.approver.post(f"{URL}{request.pk}/approve/", {}, format="json")

    assert response.status_code == 403
    assert response.json()["detail"] == "Nobody can approve their own request; ask another approver."


def test_a_rejection_needs_a_note(world, clients, pending_request):
    url = f"{URL}{pending_request.pk}/reject/"

    missing = clients.approver.post(url, {}, format="json")
    blank = clients.approver.post(url, {"note": "  "}, format="json")
    rejected = clients.approver.post(url, {"note": "Use ml-research."}, format="json")

    assert missing.status_code == 400
    assert missing.json()["fields"] == {"note": ["This field is required."]}
    assert blank.status_code == 400
    assert blank.json()["fields"] == {"note": ["Say why the request is rejected; the requester reads it."]}
    assert rejected.status_code == 200
    assert rejected.json()["state"] == "rejected"


def test_only_the_requester_cancels(world, clients, pending_request):
    url = f"{URL}{pending_request.pk}/cancel/"

    by_approver = clients.approver.post(url)
    by_requester = clients.lead_a.post(url)

    assert by_approver.status_code == 403
    assert by_approver.json()["detail"] == "Only the requester can cancel a request."
    assert by_requester.status_code == 200
    assert by_requester.json()["state"] == "cancelled"


def test_an_approver_retries_a_failed_request(world, clients, pending_request, django_capture_on_commit_callbacks):
    workflow.approve_request(pending_request.pk, actor=world.approver)
    workflow.mark_applying(pending_request.pk, actor=system_actor())
    workflow.mark_failed(pending_request.pk, actor=system_actor(), error="403 Forbidden")

    response = clients.approver.post(f"{URL}{pending_request.pk}/retry/")

    assert response.status_code == 200
    assert response.json()["state"] == "applying"
    assert AuditEvent.objects.filter(request=pending_request, verb="request.retried").count() == 1


def test_lists_filter_by_state_team_kind_and_namespace(world, clients, pending_request):
    other = ask_for_namespace(world, name="ml-research-3")
    workflow.cancel_request(other.pk, actor=world.research_lead)

    def ids(query: str) -> list[int]:
        response = clients.approver.get(f"{URL}?{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids("state=pending") == [pending_request.pk]
    assert ids("state=pending&state=cancelled") == [other.pk, pending_request.pk]
    assert ids("team=research&kind=create_namespace") == [other.pk, pending_request.pk]
    assert ids("team=platform") == []
    assert ids("namespace=ml-research-3") == [other.pk]
    assert ids("ordering=created_at") == [pending_request.pk, other.pk]


def test_bad_input_is_a_4xx_in_the_one_error_body(world, clients, pending_request):
    malformed = clients.lead_a.post(URL, "{not json", content_type="application/json")
    wrong_types = clients.lead_a.post(URL, {"kind": 3, "team": ["research"], "proposed_spec": {}}, format="json")
    unknown = clients.approver.get(f"{URL}987654/")
    huge = clients.approver.get(f"{URL}99999999999999999999999999/")
    bad_state = clients.approver.get(f"{URL}?state=sleeping")
    bad_date = clients.approver.get(f"{URL}?created_after=2026-13-45")

    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"
    assert wrong_types.status_code == 400
    assert sorted(wrong_types.json()["fields"]) == ["justification", "kind", "team"]
    assert unknown.status_code == 404
    assert unknown.json() == {"status": 404, "code": "not_found", "detail": "Not found.", "fields": {}}
    assert huge.status_code == 404
    assert bad_state.status_code == 400
    assert bad_state.json()["fields"] == {
        "state": ["Select a valid choice. sleeping is not one of the available choices."]
    }
    assert bad_date.status_code == 400
    assert bad_date.json()["fields"] == {"created_after": ["Enter a valid date/time."]}


def test_text_no_database_can_store_is_refused_naming_its_field(world, clients):
    stored = Request.objects.count()

    def post(body: bytes) -> dict:
        response = clients.lead_a.post(URL, body, content_type="application/json")
        assert response.status_code == 400
        return response.json()["fields"]

    nul_team = post(b'{"kind": "create_namespace", "team": "research\\u0000", "justification": "j"}')
    lone_surrogate = post(b'{"team": "research", "proposed_spec": {"quotas": [{"name": "q\\udc00"}]}}')
    bad_key = post(b'{"team": "research", "proposed_spec": {"labels": {"\\ud800": "x"}}}')

    refused = ["Must not contain NUL characters or unpaired surrogates."]
    assert nul_team == {"team": refused}
    assert lone_surrogate == {"proposed_spec.quotas[0].name": refused}
    assert bad_key == {"proposed_spec.labels": ["Keys must not contain NUL or unpaired surrogates."]}
    assert Request.objects.count() == stored


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("post", URL, b"[" * 5000 + b"]" * 5000, 400),
        ("post", URL, b'{"kind": "create_namespace", "proposed_spec": {"a": "\\u0000"}}', 400),
        ("post", URL, b'{"kind": "create_namespace", "proposed_spec": ' + b'{"a": ' * 40 + b"1" + b"}" * 41, 400),
        ("post", URL, b'{"kind": "create_namespace", "team": "research\\u0000", "proposed_spec": {}}', 400),
        ("post", URL, b'{"kind": "create_namespace", "justification": "\\udc00", "proposed_spec": {}}', 400),
        ("post", URL, b'{"kind": "create_namespace", "proposed_spec": {"\\ud800": 1}}', 400),
        ("post", URL, b'{"a": ' * 900 + b"1" + b"}" * 900, 400),
        ("get", f"{URL}?team=%00", None, 400),
        ("get", f"{URL}?created_after=0464-01-30T07:46:46-21:30", None, 200),
        ("get", "/api/v1/usage-samples/?start=0001-01-01T00:00:00%2B05:00", None, 400),
        ("get", "/api/v1/usage-samples/?cursor=not-a-cursor", None, 404),
        ("get", "/api/v1/teams/?page=99999999999999999999999", None, 404),
        ("get", "/api/v1/no-such-thing/", None, 404),
        ("post", "/api/v1/requests/1x/approve/", b"{}", 404),
    ],
)
def test_hostile_input_is_answered_in_the_error_body_never_a_500(world, clients, method, path, body, status):
    response = getattr(clients.lead_a, method)(path, body, content_type="application/json")

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    if status != 200:
        assert set(response.json()) == {"status", "code", "detail", "fields"}
