"""The security review's hostile inputs through the API: each a 400 naming the field to change, nothing stored."""

import copy
import json

import pytest

from teams.limits import MAX_BODY_BYTES
from teams.models import AuditEvent, Request
from tests.requests import ask_for_namespace

URL = "/api/v1/requests/"


def create_body(world, **spec) -> dict:
    research = world.namespace("ml-research")
    proposed = {"tier": "high-priority", "quotas": copy.deepcopy(research.quotas), "limitRange": research.limit_range}
    return {
        "kind": "create_namespace",
        "team": "research",
        "namespace_name": "ml-research-2",
        "proposed_spec": {**proposed, **spec},
        "justification": "A second training namespace for the vision group.",
    }


def hard(world, **keys) -> list[dict]:
    """ml-research's quotas with `keys` set in the first one's hard."""
    quotas = copy.deepcopy(world.namespace("ml-research").quotas)
    quotas[0]["hard"].update(keys)
    return quotas


def refused(client, body, url: str = URL) -> dict:
    """Post `body` (a dict, or raw bytes); assert a 400 that stored nothing; return its `fields`."""
    requests, events = Request.objects.count(), AuditEvent.objects.count()
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(url, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert (Request.objects.count(), AuditEvent.objects.count()) == (requests, events)
    return response.json()["fields"]


GPU = "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]"
CPU = "quotas[ml-research-quota].hard[requests.cpu]"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1234567890123456789012345678901234567890Gi", "'1234567890123456789…67890Gi'"),
        (10**55, "'1000000000000000000…0000000'"),
        ("9" * 1000 + "e30", "'9999999999999999999…9999e30'"),
    ],
)
def test_a_huge_quantity_is_a_400_naming_its_key(world, clients, value, shown):
    fields = refused(clients.lead_a, create_body(world, quotas=hard(world, **{"requests.cpu": value})))

    assert fields == {CPU: [f"Not a valid quantity: {shown} is absurdly large: a quantity here is at most 8Ei."]}


@pytest.mark.parametrize("tier", [["high-priority"], {"slug": "high-priority"}, 7, None])
def test_a_tier_that_is_not_a_string_is_a_400_on_tier(world, clients, tier):
    fields = refused(clients.lead_a, create_body(world, tier=tier))

    assert fields == {"tier": ["Must be a tier's slug, a string: one of critical, high-priority, best-effort."]}


@pytest.mark.parametrize("values", [8, [["ml-high"]], [{"name": "ml-high"}], "ml-high", [1]])
def test_scope_values_that_are_not_a_list_of_strings_are_a_400_on_values(world, clients, values):
    quotas = hard(world)
    quotas[0]["scopeSelector"] = {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In"}]}
    quotas[0]["scopeSelector"]["matchExpressions"][0]["values"] = values

    fields = refused(clients.lead_a, create_body(world, quotas=quotas))

    assert fields == {
        "quotas[ml-research-quota].scopeSelector.matchExpressions[0].values": ["Must be a list of strings."]
    }


def test_a_body_over_the_limit_is_a_400_naming_the_limit(world, clients):
    body = create_body(world, labels={"note": "x"})
    body["justification"] = "x" * MAX_BODY_BYTES
    requests = Request.objects.count()

    response = clients.lead_a.post(URL, json.dumps(body), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "status": 400,
        "code": "parse_error",
        "detail": f"The request body is larger than the limit of {MAX_BODY_BYTES} bytes.",
        "fields": {},
    }
    assert Request.objects.count() == requests


def test_a_justification_over_its_limit_is_a_400_on_justification(world, clients):
    body = create_body(world)
    body["justification"] = "Why?" * 1001

    assert refused(clients.lead_a, body) == {"justification": ["Must be at most 4000 characters; it has 4004."]}


def test_counts_of_quotas_keys_limits_labels_and_scopes_are_bounded(world, clients):
    quota = world.namespace("ml-research").quotas[0]
    many_quotas = [{**quota, "name": f"q{index}"} for index in range(17)]
    many_keys = hard(world, **{f"count/thing{index}.example.com": "1" for index in range(64)})
    many_limits = {"name": "lr", "limits": [{"type": "Container"}] * 9}
    many_resources = {"name": "lr", "limits": [{"type": "Container", "max": {f"r{i}": "1" for i in range(33)}}]}
    many_labels = {f"l{index}": "x" for index in range(33)}
    many_values = hard(world)
    many_values[0]["scopeSelector"] = {
        "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-high"] * 17}]
    }
    many_expressions = hard(world)
    many_expressions[0]["scopeSelector"] = {"matchExpressions": [{"scopeName": "Terminating"}] * 9}

    assert refused(clients.lead_a, create_body(world, quotas=many_quotas)) == {
        "quotas": ["At most 16 ResourceQuotas; it has 17."]
    }
    assert refused(clients.lead_a, create_body(world, quotas=many_keys)) == {
        "quotas[ml-research-quota].hard": ["At most 64 resources in a quota; it has 76."]
    }
    assert refused(clients.lead_a, create_body(world, limitRange=many_limits)) == {
        "limitRange.limits": ["At most 8 limits; it has 9."]
    }
    assert refused(clients.lead_a, create_body(world, limitRange=many_resources)) == {
        "limitRange.limits[Container].max": ["At most 32 resources; it has 33."]
    }
    assert refused(clients.lead_a, create_body(world, labels=many_labels)) == {
        "labels": ["At most 32 labels; it has 33."]
    }
    assert refused(clients.lead_a, create_body(world, quotas=many_values)) == {
        "quotas[ml-research-quota].scopeSelector.matchExpressions[0].values": ["At most 16 values; it has 17."]
    }
    assert refused(clients.lead_a, create_body(world, quotas=many_expressions)) == {
        "quotas[ml-research-quota].scopeSelector.matchExpressions": ["At most 8 scope expressions; it has 9."]
    }


def test_a_label_key_longer_than_the_api_server_takes_is_refused(world, clients):
    fields = refused(clients.lead_a, create_body(world, labels={"a" * 64: "x"}))

    assert fields == {
        f"labels[{'a' * 64}]": ["Must be a valid label key with a string value of at most 63 characters."]
    }


def test_a_key_given_twice_is_a_400_naming_it(world, clients):
    body = json.dumps(create_body(world))
    twice_kind = body.replace('"kind": "create_namespace"', '"kind": "change_quota", "kind": "create_namespace"')
    twice_cpu = body.replace('"requests.cpu": "64"', '"requests.cpu": "1", "requests.cpu": "64"')
    assert twice_kind != body
    assert twice_cpu != body

    assert refused(clients.lead_a, twice_kind.encode()) == {"kind": ["Given more than once; give it once."]}
    assert refused(clients.lead_a, twice_cpu.encode()) == {
        "proposed_spec.quotas[0].hard.requests.cpu": ["Given more than once; give it once."]
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("justification", 123, "Must be a string, not a number."),
        ("justification", True, "Must be a string, not a boolean."),
        ("namespace_name", 123, "Must be a string, not a number."),
        ("namespace_name", ["ml-x"], "Must be a string, not an array."),
        ("namespace", {"name": "ml-research"}, "Must be a string, not an object."),
        ("team", 7, "Must be a string, not a number."),
    ],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(world, clients, field, value, message):
    body = create_body(world)
    body[field] = value

    assert refused(clients.lead_a, body) == {field: [message]}


def test_decisions_take_notes_and_flags_only_of_their_own_type_and_size(world, clients):
    pending = ask_for_namespace(world)
    approve, reject = f"{URL}{pending.pk}/approve/", f"{URL}{pending.pk}/reject/"

    assert refused(clients.approver, {"override_capacity": "yes"}, approve) == {
        "override_capacity": ["Must be true or false, not the string 'yes'."]
    }
    assert refused(clients.approver, {"override_capacity": 1}, approve) == {
        "override_capacity": ["Must be true or false, not a number."]
    }
    assert refused(clients.approver, {"note": 5}, approve) == {"note": ["Must be a string, not a number."]}
    assert refused(clients.approver, {"note": "n" * 2001}, approve) == {
        "note": ["Must be at most 2000 characters; it has 2001."]
    }
    assert refused(clients.approver, {"note": "n" * 2001}, reject) == {
        "note": ["Must be at most 2000 characters; it has 2001."]
    }
    assert refused(clients.approver, {"note": ["no"]}, reject) == {"note": ["Must be a string, not an array."]}
    pending.refresh_from_db()
    assert (pending.state, pending.decision_note) == (Request.State.PENDING, "")


def test_a_gpu_limit_above_the_tier_maximum_is_reported_on_the_limit(world, clients):
    fields = refused(clients.lead_a, create_body(world, quotas=hard(world, **{"limits.nvidia.com/gpu": "65"})))

    assert fields == {
        "quotas[ml-research-quota].hard[limits.nvidia.com/gpu]": [
            "A GPU limit of 65 exceeds the High priority tier's maximum of 64 per namespace."
        ]
    }


def test_a_memory_limit_below_its_request_names_both_keys(world, clients):
    fields = refused(
        clients.lead_a, create_body(world, quotas=hard(world, **{"requests.memory": "64Gi", "limits.memory": "32Gi"}))
    )

    message = "requests.memory (64Gi) must not exceed limits.memory (32Gi)."
    assert fields == {
        "quotas[ml-research-quota].hard[requests.memory]": [message],
        "quotas[ml-research-quota].hard[limits.memory]": [message],
    }


def test_a_name_asked_for_by_another_team_says_only_that_it_is_taken(world, clients):
    other = ask_for_namespace(world, "ml-shared")
    body = create_body(world)
    body.update(team="platform", namespace_name="ml-shared")

    fields = refused(clients.lead_b, body)

    taken = "'ml-shared' on cluster default is already asked for by another open request."
    assert fields == {"namespace_name": [taken]}
    assert f"#{other.pk}" not in json.dumps(fields)


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        (
            "start=2000-01-01&end=2099-12-31&step=day",
            {"end": ["A report spans at most 1098 days; this one spans 36524."]},
        ),
        (
            "start=2024-01-01&end=2026-01-01&step=day",
            {"step": ["A report has at most 400 periods; choose a longer step or a shorter range."]},
        ),
    ],
)
def test_a_chargeback_report_is_bounded_not_computed(world, clients, query, fields):
    response = clients.finance.get(f"/api/v1/chargeback/?{query}")

    assert response.status_code == 400
    assert response.json()["fields"] == fields


def test_a_chargeback_report_within_the_bounds_is_computed(world, clients):
    assert clients.finance.get("/api/v1/chargeback/?start=2024-01-01&end=2026-01-01&step=month").status_code == 200
    assert clients.finance.get("/api/v1/chargeback/?start=2025-01-01&end=2026-01-01&step=day").status_code == 200
