"""Time-boxed grants through the API: the form's rules, an extension one call away, never a 500 for any `until`."""

import copy
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from teams.models import Grant, Request
from tests.hostile import HOSTILE, assert_no_500_and_nothing_stored_when_refused, encode, row_counts, texts

URL = "/api/v1/requests/"
GPU = "requests.nvidia.com/gpu"


def body(world, until: object, gpus: str = "12") -> dict:
    quotas = copy.deepcopy(world.namespace("ml-research").quotas)
    quotas[0]["hard"][GPU] = gpus
    return {
        "kind": "change_quota",
        "team": "research",
        "namespace": "ml-research",
        "proposed_spec": {"quotas": quotas},
        "justification": "Paper deadline.",
        "until": until,
    }


def test_a_request_until_a_date_is_stored_and_shown_with_its_grant_once_approved(world, clients):
    until = date.today() + timedelta(days=10)

    created = clients.lead_a.post(URL, body(world, until.isoformat()), format="json")
    approved = clients.approver.post(
        f"{URL}{created.json()['id']}/approve/", {"until": (until - timedelta(days=3)).isoformat()}, format="json"
    )

    assert created.status_code == 201
    assert (created.json()["until"], created.json()["grant"]) == (until.isoformat(), None)
    assert approved.status_code == 200
    grant = approved.json()["grant"]
    assert (grant["until"], grant["ended_at"], grant["reversion"]) == (
        (until - timedelta(days=3)).isoformat(),
        None,
        None,
    )
    assert grant["baseline"] == {f"quotas[ml-research-quota].hard[{GPU}]": "8"}


def test_an_end_date_in_the_past_is_refused_naming_until_and_nothing_is_stored(world, clients):
    before = Request.objects.count()

    response = clients.lead_a.post(URL, body(world, "2020-01-01"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "until": ["Must be after today: a grant lasts at least until the end of tomorrow."]
    }
    assert Request.objects.count() == before


def test_an_extension_is_one_call_and_is_decided_like_any_request(world, clients):
    created = clients.lead_a.post(URL, body(world, (date.today() + timedelta(days=3)).isoformat()), format="json")
    clients.approver.post(f"{URL}{created.json()['id']}/approve/", {}, format="json")
    later = (date.today() + timedelta(days=9)).isoformat()

    extension = clients.lead_a.post(
        f"{URL}{created.json()['id']}/extend/", {"until": later, "justification": "Reviews."}, format="json"
    )
    refused = clients.lead_a.post(f"{URL}{extension.json()['id']}/extend/", {"until": later}, format="json")
    approved = clients.approver.post(f"{URL}{extension.json()['id']}/approve/", {}, format="json")

    assert extension.status_code == 201
    assert (extension.json()["state"], extension.json()["until"]) == ("pending", later)
    assert extension.json()["extends"] == Grant.objects.get(request_id=created.json()["id"]).pk
    assert refused.status_code == 400
    assert approved.status_code == 200
    assert Grant.objects.get(request_id=created.json()["id"]).until.isoformat() == later


@HOSTILE
@given(until=st.one_of(texts, st.dates().map(date.isoformat), st.integers(), st.none(), st.lists(st.integers())))
def test_any_until_is_a_request_or_a_400_naming_until_never_a_500(world, clients, until):
    before = row_counts()

    response = clients.lead_a.post(URL, encode(body(world, until, gpus="10")), content_type="application/json")

    assert_no_500_and_nothing_stored_when_refused(response, before)
    if response.status_code != 201:
        assert set(response.json()["fields"]) == {"until"}
