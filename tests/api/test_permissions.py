"""The permission matrix: every endpoint x every kind of caller, with the exact status code.

Objects are research's (lead A's team); lead B leads platform. A team's objects do not
exist for other teams (404); what a caller sees but may not do is a 403; a read-only
token is refused every POST before anything is looked up.
"""

import pytest
from django.utils import timezone

from provisioning.models import UsageSample
from teams import workflow
from teams.events import system_actor
from tests.clusters import connect
from tests.kube import WORKER_CONTEXT
from tests.requests import ask_for_namespace

PERSONAS = [
    "anonymous",
    "member",
    "lead_a",
    "lead_b",
    "finance",
    "approver",
    "token_read_only",
    "token_read_write",
    "token_revoked",
]


def row(*codes: int) -> dict[str, int]:
    assert len(codes) == len(PERSONAS)
    return dict(zip(PERSONAS, codes, strict=True))


EVERYONE = row(401, 200, 200, 200, 200, 200, 200, 200, 401)
RESEARCH_ONLY = row(401, 200, 200, 404, 200, 200, 200, 200, 401)
APPROVERS_ONLY = row(401, 403, 403, 404, 403, 200, 403, 403, 401)

MATRIX = {
    "cost-centers list": ("get", "/api/v1/cost-centers/", EVERYONE),
    "cost-center detail": ("get", "/api/v1/cost-centers/rd-001/", RESEARCH_ONLY),
    "tiers list": ("get", "/api/v1/tiers/", EVERYONE),
    "tier detail": ("get", "/api/v1/tiers/critical/", EVERYONE),
    "teams list": ("get", "/api/v1/teams/", EVERYONE),
    "team detail": ("get", "/api/v1/teams/research/", RESEARCH_ONLY),
    "namespaces list": ("get", "/api/v1/namespaces/", EVERYONE),
    "namespace detail": ("get", "/api/v1/namespaces/{namespace}/", RESEARCH_ONLY),
    "requests list": ("get", "/api/v1/requests/", EVERYONE),
    "request detail": ("get", "/api/v1/requests/{pending}/", RESEARCH_ONLY),
    "request create": ("post", "/api/v1/requests/", row(401, 403, 201, 400, 403, 403, 403, 201, 401)),
    "request approve": ("post", "/api/v1/requests/{pending}/approve/", APPROVERS_ONLY),
    "request reject": ("post", "/api/v1/requests/{pending}/reject/", APPROVERS_ONLY),
    "request cancel": ("post", "/api/v1/requests/{pending}/cancel/", row(401, 403, 200, 404, 403, 403, 403, 200, 401)),
    "request retry": ("post", "/api/v1/requests/{failed}/retry/", APPROVERS_ONLY),
    # The approver's 200 talks to the cluster: test_dry_run_asks_the_api_server below.
    "request dry-run": (
        "post",
        "/api/v1/requests/{pending}/dry-run/",
        row(401, 403, 403, 404, 403, None, 403, 403, 401),
    ),
    "clusters list": ("get", "/api/v1/clusters/", EVERYONE),
    "cluster detail": ("get", "/api/v1/clusters/default/", row(401, 404, 404, 404, 200, 200, 200, 404, 401)),
    "usage samples list": ("get", "/api/v1/usage-samples/", EVERYONE),
    "usage sample detail": ("get", "/api/v1/usage-samples/{sample}/", RESEARCH_ONLY),
    "chargeback report": (
        "get",
        "/api/v1/chargeback/?start=2026-10-01&end=2026-11-01",
        EVERYONE,
    ),
    "chargeback report as CSV": (
        "get",
        "/api/v1/chargeback/?start=2026-10-01&end=2026-11-01&format=csv",
        EVERYONE,
    ),
}
CASES = [
    pytest.param(endpoint, persona, id=f"{endpoint}-{persona}")
    for endpoint, (_, _, codes) in MATRIX.items()
    for persona in PERSONAS
    if codes[persona] is not None
]


@pytest.fixture
def objects(world) -> dict:
    cluster = connect("default", is_default=True, gpu_capacity=64, capacity_synced_at=timezone.now())
    namespace = world.namespace("ml-research")
    sample = UsageSample.objects.create(
        cluster=cluster,
        namespace=namespace,
        quota_name="ml-research-quota",
        resource="requests.nvidia.com/gpu",
        time=timezone.now(),
        hard=8,
        used=3,
    )
    pending = ask_for_namespace(world)
    failed = ask_for_namespace(world, name="ml-research-failed")
    workflow.approve_request(failed.pk, actor=world.approver)
    workflow.mark_applying(failed.pk, actor=system_actor())
    workflow.mark_failed(failed.pk, actor=system_actor(), error="403 Forbidden")
    return {"namespace": namespace.pk, "sample": sample.pk, "pending": pending.pk, "failed": failed.pk}


BODIES = {
    "request create": lambda world: {
        "kind": "change_quota",
        "team": "research",
        "namespace": "ml-research",
        "proposed_spec": {"quotas": [{"name": "ml-research-quota", "hard": {"pods": "60"}}]},
        "justification": "More pods for the sweep.",
    },
    "request reject": lambda world: {"note": "Use ml-research."},
    "request approve": lambda world: {"note": "Fine."},
}


@pytest.mark.parametrize(("endpoint", "persona"), CASES)
def test_permission_matrix(world, clients, objects, endpoint, persona):
    method, path, codes = MATRIX[endpoint]
    body = BODIES.get(endpoint, lambda world: None)(world)

    response = getattr(clients[persona], method)(path.format(**objects), body, format="json")

    assert response.status_code == codes[persona], response.content


def test_what_each_caller_lists(world, clients, objects):
    def names(persona: str, path: str, key: str) -> list[str]:
        return [item[key] for item in clients[persona].get(path).json()["results"]]

    assert names("member", "/api/v1/teams/", "slug") == ["research"]
    assert names("lead_b", "/api/v1/teams/", "slug") == ["platform"]
    assert names("finance", "/api/v1/teams/", "slug") == ["data-science", "platform", "research"]
    assert names("member", "/api/v1/cost-centers/", "code") == ["rd-001"]
    assert names("approver", "/api/v1/cost-centers/", "code") == ["ds-001", "prod-001", "rd-001"]
    assert names("lead_b", "/api/v1/namespaces/", "name") == ["ml-production"]
    assert names("member", "/api/v1/requests/", "namespace_name") == ["ml-research-failed", "ml-research-2"]
    assert names("lead_b", "/api/v1/requests/", "namespace_name") == []
    assert names("lead_b", "/api/v1/usage-samples/", "namespace") == []
    assert names("member", "/api/v1/usage-samples/", "namespace") == ["ml-research"]
    assert names("member", "/api/v1/clusters/", "name") == []
    assert names("finance", "/api/v1/clusters/", "name") == ["default"]


@pytest.mark.cluster
def test_dry_run_asks_the_api_server(world, clients, kubeconfig_path):
    connect("local", kubeconfig_path=str(kubeconfig_path), context=WORKER_CONTEXT, is_default=True)
    request = ask_for_namespace(world, name="ml-research-dry-run")

    response = clients.approver.post(f"/api/v1/requests/{request.pk}/dry-run/")

    assert response.status_code == 200
    assert response.json() == {
        "accepted": True,
        "message": "The API server accepts all 5 objects.",
        "objects": [
            "PriorityClass/ml-high",
            "Namespace/ml-research-dry-run",
            "ResourceQuota/ml-research-quota",
            "LimitRange/ml-limit-range",
            "RoleBinding/gpu-portal-team-edit",
        ],
    }
