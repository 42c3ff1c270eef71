"""The request conversation through the API: changes requested, resubmission, comments, grants in part."""

import pytest

from teams.models import AuditEvent, Request
from tests.requests import ask_for_gpus

URL = "/api/v1/requests/"
GPU = "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]"


@pytest.fixture
def asked(world) -> Request:
    return ask_for_gpus(world, world.namespace("ml-research"), "16")


def quotas_with(world, gpus: str) -> list[dict]:
    quotas = [dict(quota, hard=dict(quota["hard"])) for quota in world.namespace("ml-research").quotas]
    quotas[0]["hard"]["requests.nvidia.com/gpu"] = gpus
    return quotas


def test_changes_requested_then_resubmitted_through_the_api(world, clients, asked):
    sent_back = clients.approver.post(f"{URL}{asked.pk}/request-changes/", {"note": "12?"}, format="json")
    body = {"proposed_spec": {"quotas": quotas_with(world, "12")}, "justification": "12 then."}
    resubmitted = clients.lead_a.post(f"{URL}{asked.pk}/resubmit/", body, format="json")

    assert (sent_back.status_code, sent_back.json()["state"]) == (200, "changes_requested")
    assert resubmitted.status_code == 200, resubmitted.json()
    shown = resubmitted.json()
    assert (shown["state"], shown["revision"]) == ("pending", 2)
    assert [(c["current"], c["proposed"]) for c in shown["first_changes"]] == [("8", "16")]
    assert [(c["current"], c["proposed"]) for c in shown["changes"]] == [("8", "12")]
    thread = clients.member.get(f"{URL}{asked.pk}/comments/").json()
    assert [(c["author"], c["body"], c["revision"]) for c in thread] == [("approver", "12?", 1)]


def test_a_lead_cannot_resubmit_what_nobody_sent_back(world, clients, asked):
    body = {"proposed_spec": {"quotas": quotas_with(world, "12")}, "justification": "12 then."}

    response = clients.lead_a.post(f"{URL}{asked.pk}/resubmit/", body, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "invalid_transition")


def test_an_approval_in_part_through_the_api(world, clients, asked):
    response = clients.approver.post(f"{URL}{asked.pk}/approve/", {"granted": {GPU: "10"}}, format="json")

    assert response.status_code == 200, response.json()
    shown = response.json()
    assert [(c["proposed"]) for c in shown["granted_changes"]] == ["10"]
    assert world.namespace("ml-research").quotas[0]["hard"]["requests.nvidia.com/gpu"] == "10"


@pytest.mark.parametrize(
    ("granted", "field"),
    [
        ({GPU: "40"}, GPU),
        ({GPU: 12}, "granted"),
        ("12", "granted"),
        ({GPU: "x" * 65}, "granted"),
        ({f"quotas[q{n}].hard[pods]": "1" for n in range(257)}, "granted"),
    ],
)
def test_a_bad_grant_is_a_400_naming_the_field_and_nothing_is_approved(world, clients, asked, granted, field):
    events_before = AuditEvent.objects.count()

    response = clients.approver.post(f"{URL}{asked.pk}/approve/", {"granted": granted}, format="json")

    assert response.status_code == 400
    assert any(name.startswith(field) for name in response.json()["fields"]), response.json()
    asked.refresh_from_db()
    assert asked.state == Request.State.PENDING
    assert AuditEvent.objects.count() == events_before


def test_comments_through_the_api_are_the_teams_and_the_approvers(world, clients, asked):
    posted = clients.member.post(f"{URL}{asked.pk}/comments/", {"body": "We need 12."}, format="json")
    refused = clients.finance.post(f"{URL}{asked.pk}/comments/", {"body": "Costly."}, format="json")
    hidden = clients.lead_b.get(f"{URL}{asked.pk}/comments/")
    empty = clients.approver.post(f"{URL}{asked.pk}/comments/", {"body": " "}, format="json")
    typed = clients.approver.post(f"{URL}{asked.pk}/comments/", {"body": ["x"]}, format="json")

    assert (posted.status_code, posted.json()["author"]) == (201, "research-member")
    assert refused.status_code == 403
    assert hidden.status_code == 404
    assert (empty.status_code, list(empty.json()["fields"])) == (400, ["body"])
    assert (typed.status_code, list(typed.json()["fields"])) == (400, ["body"])
    assert [c["body"] for c in clients.approver.get(f"{URL}{asked.pk}/comments/").json()] == ["We need 12."]
