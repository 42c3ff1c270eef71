"""A request through the API is a merge patch: what it omits is kept, removals are explicit and shown."""

import copy

import pytest
from django.urls import reverse

from teams.models import Request
from tests.requests import ask_for_namespace

URL = "/api/v1/requests/"
GPU = "requests.nvidia.com/gpu"


def change(kind: str, namespace: str, proposed_spec: dict, team: str = "research") -> dict:
    return {
        "kind": kind,
        "team": team,
        "namespace": namespace,
        "proposed_spec": proposed_spec,
        "justification": "The vision group grows.",
    }


def only_gpus(gpus: object) -> dict:
    return change("change_quota", "ml-research", {"quotas": [{"name": "ml-research-quota", "hard": {GPU: gpus}}]})


def test_a_partial_quota_keeps_the_eleven_keys_it_omits(world, clients):
    before = world.namespace("ml-research").quotas[0]["hard"]

    response = clients.lead_a.post(URL, only_gpus("14"), format="json")

    assert response.status_code == 201, response.content
    stored = Request.objects.get()
    assert stored.proposed_spec == {"quotas": [{"name": "ml-research-quota", "hard": {**before, GPU: "14"}}]}
    assert len(stored.proposed_spec["quotas"][0]["hard"]) == 12
    assert response.json()["changes"] == [
        {
            "field": f"quotas[ml-research-quota].hard[{GPU}]",
            "object": "ml-research-quota",
            "key": GPU,
            "current": "8",
            "proposed": "14",
            "change": "changed",
        }
    ]


def test_approving_a_partial_quota_keeps_the_other_keys_in_desired_state(world, clients):
    created = clients.lead_a.post(URL, only_gpus("14"), format="json").json()

    approved = clients.approver.post(f"{URL}{created['id']}/approve/", {}, format="json")

    assert approved.status_code == 200, approved.content
    hard = world.namespace("ml-research").quotas[0]["hard"]
    assert hard[GPU] == "14"
    assert (hard["requests.cpu"], hard["pods"], hard["configmaps"], len(hard)) == ("64", "50", "50", 12)


def test_null_removes_a_key_and_is_shown_as_a_removal(world, clients):
    body = change(
        "change_quota", "ml-research", {"quotas": [{"name": "ml-research-quota", "hard": {"configmaps": None}}]}
    )

    response = clients.lead_a.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    hard = Request.objects.get().proposed_spec["quotas"][0]["hard"]
    assert "configmaps" not in hard
    assert len(hard) == 11
    assert response.json()["changes"] == [
        {
            "field": "quotas[ml-research-quota].hard[configmaps]",
            "object": "ml-research-quota",
            "key": "configmaps",
            "current": "50",
            "proposed": None,
            "change": "removed",
        }
    ]


def test_null_for_a_key_that_is_not_there_is_a_400_naming_it(world, clients):
    body = change("change_quota", "ml-research", {"quotas": [{"name": "ml-research-quota", "hard": {"cpu": None}}]})

    response = clients.lead_a.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"quotas[ml-research-quota].hard[cpu]": ["There is nothing here to remove."]}
    assert Request.objects.count() == 0


def test_remove_quotas_removes_a_quota_whole(world, clients):
    body = change("change_quota", "ml-production", {"removeQuotas": ["ml-production-objects"]}, team="platform")

    response = clients.lead_b.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    stored = Request.objects.get()
    assert [quota["name"] for quota in stored.proposed_spec["quotas"]] == ["ml-production-quota"]
    assert stored.proposed_spec["quotas"][0] == world.namespace("ml-production").quotas[0]
    assert [(row["field"], row["change"]) for row in response.json()["changes"]] == [
        ("quotas[ml-production-objects].hard[services]", "removed")
    ]


def test_remove_quotas_of_a_quota_that_does_not_exist_is_a_400(world, clients):
    body = change("change_quota", "ml-research", {"removeQuotas": ["old-quota"]})

    response = clients.lead_a.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"removeQuotas": ["There is no quota 'old-quota' to remove."]}


def test_a_limit_range_patch_keeps_the_bounds_it_omits_and_removes_items_by_type(world, clients):
    before = copy.deepcopy(world.namespace("ml-research").limit_range)
    body = change(
        "change_limit_range",
        "ml-research",
        {
            "limitRange": {"limits": [{"type": "Container", "max": {"cpu": "16", "memory": None}}]},
            "removeLimits": ["PersistentVolumeClaim"],
        },
    )

    response = clients.lead_a.post(URL, body, format="json")

    assert response.status_code == 201, response.content
    container = before["limits"][0]
    del container["max"]["memory"]
    container["max"]["cpu"] = "16"
    assert Request.objects.get().proposed_spec == {"limitRange": {"name": "ml-limit-range", "limits": [container]}}
    assert [(row["field"], row["change"]) for row in response.json()["changes"]] == [
        ("limitRange.limits[Container].max[cpu]", "changed"),
        ("limitRange.limits[Container].max[memory]", "removed"),
        ("limitRange.limits[PersistentVolumeClaim].max[storage]", "removed"),
        ("limitRange.limits[PersistentVolumeClaim].min[storage]", "removed"),
    ]


def test_limit_range_null_removes_the_limit_range(world, clients):
    response = clients.lead_a.post(
        URL, change("change_limit_range", "ml-research", {"limitRange": None}), format="json"
    )

    assert response.status_code == 201, response.content
    assert Request.objects.get().proposed_spec == {"limitRange": {}}
    assert {row["change"] for row in response.json()["changes"]} == {"removed"}


@pytest.mark.parametrize(
    ("kind", "proposed_spec", "field", "message"),
    [
        (
            "change_quota",
            {"quotas": [{"name": "ml-research-quota", "hard": {GPU: "8"}}]},
            "quotas",
            "Nothing to change: this request leaves the namespace as it is.",
        ),
        (
            "change_quota",
            {"quotas": [{"name": "ml-research-quota", "hard": {"requests.memory": "262144Mi"}}]},
            "quotas",
            "Nothing to change: this request leaves the namespace as it is.",
        ),
        (
            "change_limit_range",
            {"limitRange": {"limits": [{"type": "Container", "max": {"cpu": "32"}}]}},
            "limitRange",
            "Nothing to change: this request leaves the namespace as it is.",
        ),
        (
            "change_tier",
            {"tier": "high-priority"},
            "tier",
            "Nothing to change: the namespace is already in the high-priority tier.",
        ),
    ],
)
def test_a_request_that_changes_nothing_is_a_400_naming_the_field(world, clients, kind, proposed_spec, field, message):
    response = clients.lead_a.post(URL, change(kind, "ml-research", proposed_spec), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {field: [message]}
    assert Request.objects.count() == 0


def test_approval_refuses_a_request_whose_namespace_changed_since(world, clients, second_approver):
    first = clients.lead_a.post(URL, only_gpus("14"), format="json").json()
    second = clients.lead_a.post(
        URL,
        change("change_quota", "ml-research", {"quotas": [{"name": "ml-research-quota", "hard": {"pods": "60"}}]}),
        format="json",
    ).json()
    clients.approver.post(f"{URL}{first['id']}/approve/", {}, format="json")

    response = clients.approver.post(f"{URL}{second['id']}/approve/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "proposed_spec": [
            "The namespace changed since this request was submitted, so approving it would undo that change; ask "
            "the team lead to submit it again."
        ]
    }
    assert world.namespace("ml-research").quotas[0]["hard"][GPU] == "14"
    assert Request.objects.get(pk=second["id"]).state == Request.State.PENDING


def test_a_new_namespace_lists_every_key_as_added(world, clients):
    request = ask_for_namespace(world)

    response = clients.lead_a.get(f"{URL}{request.pk}/")

    changes = response.json()["changes"]
    assert {row["change"] for row in changes} == {"added"}
    assert {
        "field": "tier",
        "object": "namespace",
        "key": "tier",
        "current": None,
        "proposed": "high-priority",
    }.items() <= changes[0].items()


# Usage rows: one function for the pages and the API.


def page_rows(client, namespace: str) -> list[dict]:
    rows = client.get(reverse("namespace-detail", args=["default", namespace])).context["usage"]
    return [{"quota": row.quota, "resource": row.resource, "hard": row.hard, "used": row.used} for row in rows]


def test_usage_rows_are_the_same_on_the_page_and_the_api_before_and_after_a_sync(world, clients, client):
    namespace = world.namespace("ml-research")
    client.force_login(world.research_lead)
    api = f"/api/v1/namespaces/{namespace.pk}/"

    before_page, before_api = page_rows(client, "ml-research"), clients.lead_a.get(api).json()["usage"]
    namespace.observed_quotas = {
        "ml-research-quota": {"hard": namespace.quotas[0]["hard"], "used": {GPU: "6", "pods": "3"}}
    }
    namespace.save()
    after_page, after_api = page_rows(client, "ml-research"), clients.lead_a.get(api).json()["usage"]

    assert before_api == before_page
    assert len(before_api) == 12
    assert before_api[0] == {"quota": "ml-research-quota", "resource": GPU, "hard": "8", "used": None}
    assert {row["used"] for row in before_api} == {None}
    assert after_api == after_page
    assert after_api[0] == {"quota": "ml-research-quota", "resource": GPU, "hard": "8", "used": "6"}
    assert next(row for row in after_api if row["resource"] == "requests.cpu")["used"] == "0"


@pytest.mark.parametrize(
    ("proposed_spec", "field", "message"),
    [
        (
            {"limitRange": {"limits": [{"type": "PersistentVolumeClaim", "min": None, "max": None}]}},
            "limitRange.limits[PersistentVolumeClaim]",
            "Removing every bound leaves nothing: name PersistentVolumeClaim in removeLimits instead.",
        ),
        (
            {"removeLimits": ["Container", "PersistentVolumeClaim"]},
            "removeLimits",
            'This removes every limit; to remove the LimitRange itself, send "limitRange": null.',
        ),
        (
            {"removeLimits": ["Pod"]},
            "removeLimits",
            "There is no LimitRange item 'Pod' to remove.",
        ),
    ],
)
def test_limit_range_removals_that_leave_nothing_or_name_nothing_are_a_400(
    world, clients, proposed_spec, field, message
):
    response = clients.lead_a.post(URL, change("change_limit_range", "ml-research", proposed_spec), format="json")

    assert response.status_code == 400
    assert response.json()["fields"][field] == [message]
    assert Request.objects.count() == 0
