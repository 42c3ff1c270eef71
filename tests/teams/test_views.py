"""Every page and action for every role, the request form's behaviour, and constant query counts."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from teams import workflow
from teams.events import system_actor
from teams.models import Request, Team, TeamNamespace
from tests.clusters import connect
from tests.requests import ask_for_gpus

Kind = Request.Kind
State = Request.State
ROLES = ["anonymous", "member", "lead_a", "lead_b", "approver", "finance"]
USERS = {
    "member": "research-member",
    "lead_a": "research-lead",
    "lead_b": "platform-lead",
    "approver": "approver",
    "finance": "finance",
}


@pytest.fixture
def as_role(world, client):
    def sign_in(role: str):
        if role != "anonymous":
            client.force_login(get_user_model().objects.get(username=USERS[role]))
        return client

    return sign_in


@pytest.fixture
def pending(world) -> Request:
    return ask_for_gpus(world, world.namespace("ml-research"), "16")


def outcome(response) -> int | str:
    """The status code, or "login" for a redirect to sign-in."""
    if response.status_code == 302 and response["Location"].startswith(reverse("login")):
        return "login"
    return response.status_code


# (method, url name, args, query) -> expected outcome per role, in ROLES order.
READ_PAGES = {
    ("get", "dashboard", (), ""): ["login", 200, 200, 200, 200, 200],
    ("get", "request-list", (), ""): ["login", 200, 200, 200, 200, 200],
    ("get", "request-new", ("create_namespace",), ""): ["login", 403, 200, 200, 403, 403],
    ("get", "request-new", ("change_quota",), "?cluster=default&namespace=ml-research"): [
        "login",
        403,
        200,
        404,
        403,
        403,
    ],
    ("get", "request-new", ("change_limit_range",), "?cluster=default&namespace=ml-research"): [
        "login",
        403,
        200,
        404,
        403,
        403,
    ],
    ("get", "request-new", ("change_tier",), "?cluster=default&namespace=ml-research"): [
        "login",
        403,
        200,
        404,
        403,
        403,
    ],
    ("get", "request-new", ("delete_namespace",), "?cluster=default&namespace=ml-research"): [
        "login",
        403,
        200,
        404,
        403,
        403,
    ],
    ("get", "request-new", ("change_quota",), "?namespace=ml-nowhere"): ["login", 404, 404, 404, 404, 404],
    ("get", "queue", (), ""): ["login", 403, 403, 403, 200, 403],
    ("get", "cluster-overview", (), ""): ["login", 403, 403, 403, 200, 403],
    ("get", "namespace-detail", ("default", "ml-research"), ""): ["login", 200, 200, 404, 200, 200],
    ("get", "namespace-manifests", ("default", "ml-research"), ""): ["login", 200, 200, 404, 200, 200],
    ("get", "usage-chart", ("default", "ml-research"), "?range=7d"): ["login", 200, 200, 404, 200, 200],
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(READ_PAGES), ids=lambda page: f"{page[1]}{page[3]}")
def test_pages_per_role(as_role, role, page):
    method, name, args, query = page

    response = getattr(as_role(role), method)(reverse(name, args=args) + query)

    assert outcome(response) == READ_PAGES[page][ROLES.index(role)]


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 200, 200, 404, 200, 200], strict=True))
def test_request_detail_per_role(as_role, pending, role, expected):
    assert outcome(as_role(role).get(reverse("request-detail", args=[pending.pk]))) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 404, 200, 403], strict=True))
def test_request_state_fragment_per_role(as_role, pending, role, expected):
    assert outcome(as_role(role).get(reverse("request-row", args=[pending.pk]))) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 404, 200, 403], strict=True))
def test_decision_forms_fragment_per_role(as_role, pending, role, expected):
    assert outcome(as_role(role).get(reverse("request-decision", args=[pending.pk]))) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 404, 302, 403], strict=True))
def test_approving_per_role(as_role, pending, role, expected):
    response = as_role(role).post(reverse("request-approve", args=[pending.pk]), {"note": "ok"})

    assert outcome(response) == expected
    assert Request.objects.get(pk=pending.pk).state == (State.APPROVED if expected == 302 else State.PENDING)


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 404, 302, 403], strict=True))
def test_rejecting_per_role(as_role, pending, role, expected):
    response = as_role(role).post(reverse("request-reject", args=[pending.pk]), {"note": "Use ml-experiments."})

    assert outcome(response) == expected
    assert Request.objects.get(pk=pending.pk).state == (State.REJECTED if expected == 302 else State.PENDING)


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 302, 404, 403, 403], strict=True))
def test_cancelling_per_role(as_role, pending, role, expected):
    response = as_role(role).post(reverse("request-cancel", args=[pending.pk]))

    assert outcome(response) == expected
    assert Request.objects.get(pk=pending.pk).state == (State.CANCELLED if expected == 302 else State.PENDING)


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 403, 302, 403], strict=True))
def test_bulk_approval_per_role(as_role, pending, role, expected):
    response = as_role(role).post(reverse("queue-bulk-approve"), {"selected": [pending.pk]})

    assert outcome(response) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 404, 302, 403], strict=True))
def test_retrying_per_role(as_role, pending, role, expected):
    workflow.approve_request(pending.pk, actor=get_user_model().objects.get(username="approver"))
    workflow.mark_applying(pending.pk, actor=system_actor())
    workflow.mark_failed(pending.pk, actor=system_actor(), error="409 conflict")

    response = as_role(role).post(reverse("request-retry", args=[pending.pk]))

    assert outcome(response) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 200, 200, 404, 200, 200], strict=True))
def test_fit_checker_per_role(as_role, role, expected):
    response = as_role(role).post(
        reverse("namespace-fit", args=["default", "ml-research"]), {"gpus": "4", "count": "1"}
    )

    assert outcome(response) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 200, 404, 403, 403], strict=True))
def test_form_validation_and_preview_per_role(as_role, role, expected):
    client = as_role(role)
    data = {"namespace": "ml-research", "quota|0|requests.nvidia.com/gpu": "16", "justification": "x"}

    assert outcome(client.post(reverse("request-validate", args=["change_quota"]), data)) == expected
    assert outcome(client.post(reverse("request-preview", args=["change_quota"]), data)) == expected


@pytest.mark.parametrize(("role", "expected"), zip(ROLES, ["login", 403, 403, 404, 302, 403], strict=True))
def test_reapplying_per_role(as_role, role, expected):
    response = as_role(role).post(reverse("namespace-reapply", args=["default", "ml-research"]))

    assert outcome(response) == expected


def test_home_sends_each_role_where_it_works(as_role):
    assert as_role("lead_a").get(reverse("home"))["Location"] == reverse("dashboard")
    assert as_role("approver").get(reverse("home"))["Location"] == reverse("queue")
    assert as_role("finance").get(reverse("home"))["Location"] == reverse("chargeback:report")


def test_forms_refuse_posts_without_csrf(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world.research_lead)

    response = client.post(reverse("request-new", args=["create_namespace"]), {"namespace_name": "x"})

    assert response.status_code == 403


# The request form.


def quota_form(**overrides) -> dict:
    namespace = TeamNamespace.objects.get(name="ml-research")
    data = {f"quota|0|{key}": value for key, value in namespace.quotas[0]["hard"].items()}
    data.update({"namespace": "ml-research", "justification": "More GPUs for the deadline."})
    data.update(overrides)
    return data


def test_a_quota_increase_from_the_form_becomes_a_pending_request(as_role, world):
    client = as_role("lead_a")

    response = client.post(
        reverse("request-new", args=["change_quota"]), quota_form(**{"quota|0|requests.nvidia.com/gpu": "16"})
    )

    request = Request.objects.get()
    assert response["Location"] == reverse("request-detail", args=[request.pk])
    assert (request.kind, request.state, request.namespace_name) == ("change_quota", "pending", "ml-research")
    assert request.proposed_spec["quotas"][0]["hard"]["requests.nvidia.com/gpu"] == "16"
    assert request.proposed_spec["quotas"][0]["hard"]["requests.memory"] == "256Gi"


def test_bad_input_shows_the_errors_next_to_the_fields_and_stores_nothing(as_role):
    client = as_role("lead_a")

    response = client.post(
        reverse("request-new", args=["change_quota"]),
        quota_form(**{"quota|0|requests.cpu": "lots", "justification": ""}),
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert Request.objects.count() == 0
    assert 'id="f-quota-0-requests-cpu-error"' in html
    assert "Not a valid quantity: &#x27;lots&#x27; is not a quantity" in html
    assert "Say why the team needs this; approvers read it." in html
    assert 'aria-invalid="true"' in html


def test_live_validation_returns_field_errors_warnings_and_the_diff(as_role):
    client = as_role("lead_a")

    response = client.post(
        reverse("request-validate", args=["change_quota"]),
        quota_form(**{"quota|0|requests.nvidia.com/gpu": "17"}),
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "17 guaranteed GPUs exceed the High priority tier&#x27;s maximum of 16 per namespace." in html
    assert "Kubernetes never counts or enforces limits.nvidia.com/gpu" in html
    assert 'hx-swap-oob="true"' in html
    assert '<tr class="changed">' in html


def test_a_new_namespace_is_prefilled_from_the_tier_defaults(as_role):
    response = as_role("lead_a").get(reverse("request-new", args=["create_namespace"]))

    form = response.context["form"]
    values = {item.name: item.value for block in form.quotas for item in block.inputs}
    assert values["quota|0|requests.nvidia.com/gpu"] == "4"
    assert values["quota|0|pods"] == "50"
    assert form.tier.value == "high-priority"


def test_a_new_namespace_from_the_form(as_role, world):
    client = as_role("lead_a")
    data = {
        "team": world.research.pk,
        "namespace_name": "ml-vision",
        "tier": "high-priority",
        "quota|0|requests.nvidia.com/gpu": "4",
        "quota|0|pods": "20",
        "limit|Container|default|nvidia.com/gpu": "0",
        "limit|Container|defaultRequest|nvidia.com/gpu": "0",
        "justification": "The vision group starts next week.",
    }

    client.post(reverse("request-new", args=["create_namespace"]), data)

    request = Request.objects.get()
    assert request.proposed_spec == {
        "tier": "high-priority",
        "quotas": [{"name": "ml-vision-quota", "hard": {"requests.nvidia.com/gpu": "4", "pods": "20"}}],
        "limitRange": {
            "name": "default-limits",
            "limits": [
                {"type": "Container", "defaultRequest": {"nvidia.com/gpu": "0"}, "default": {"nvidia.com/gpu": "0"}}
            ],
        },
    }


def best_effort_form(**overrides) -> dict:
    data = {
        "team": Team.objects.get(slug="data-science").pk,
        "namespace_name": "ml-sweeps",
        "tier": "best-effort",
        "quota|0|requests.nvidia.com/gpu": "8",
        "quota|0|pods": "50",
        "quota|1|requests.nvidia.com/gpu": "0",
        "limit|Container|default|nvidia.com/gpu": "0",
        "limit|Container|defaultRequest|nvidia.com/gpu": "0",
        "justification": "Hyperparameter sweeps.",
    }
    return {**data, **overrides}


def test_a_best_effort_namespace_from_the_form_keeps_its_gpus_for_preemptible_pods(world, client):
    client.force_login(get_user_model().objects.get(username="data-science-lead"))

    page = client.get(reverse("request-new", args=["create_namespace"]))
    response = client.post(reverse("request-new", args=["create_namespace"]), best_effort_form())

    assert "&lt;name&gt;-guaranteed" in page.content.decode()
    assert response.status_code == 302
    request = Request.objects.get()
    assert request.proposed_spec["quotas"] == [
        {
            "name": "ml-sweeps-quota",
            "hard": {"requests.nvidia.com/gpu": "8", "pods": "50"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-low"]}]
            },
        },
        {
            "name": "ml-sweeps-guaranteed",
            "hard": {"requests.nvidia.com/gpu": "0"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["ml-low"]}]
            },
        },
    ]


def test_guaranteed_gpus_in_a_best_effort_namespace_are_refused_on_the_form_and_nothing_is_stored(world, client):
    client.force_login(get_user_model().objects.get(username="data-science-lead"))

    response = client.post(
        reverse("request-new", args=["create_namespace"]), best_effort_form(**{"quota|1|requests.nvidia.com/gpu": "2"})
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert Request.objects.count() == 0
    assert 'id="f-quota-1-requests-nvidia-com-gpu-error"' in html
    assert "Best effort namespaces get 0 guaranteed GPUs, but this quota holds 2 GPUs" in html


def gpu_inputs(response) -> list[tuple[str, str]]:
    """(label, help) of each requests.nvidia.com/gpu input the form shows."""
    return [
        (item.label, item.help)
        for block in response.context["form"].quotas
        for item in block.inputs
        if item.name.endswith("|requests.nvidia.com/gpu")
    ]


def test_the_gpu_input_is_named_after_the_tier_chosen_on_the_form(world, client):
    client.force_login(get_user_model().objects.get(username="data-science-lead"))
    url = reverse("request-new", args=["create_namespace"])

    guaranteed = client.get(url, {"tier": "high-priority"}, headers={"HX-Request": "true"})
    best_effort = client.get(url, {"tier": "best-effort"}, headers={"HX-Request": "true"})

    assert gpu_inputs(guaranteed) == [
        (
            "Guaranteed GPUs (requests.nvidia.com/gpu)",
            "Held for this namespace's pods: approvers count them against the cluster's capacity.",
        )
    ]
    assert gpu_inputs(best_effort) == [
        (
            "Preemptible GPUs (requests.nvidia.com/gpu)",
            "The Best effort tier guarantees no GPUs: pods at ml-low use up to this many while the cluster has "
            "them free, and may be preempted.",
        ),
        (
            "GPUs of other PriorityClasses (requests.nvidia.com/gpu)",
            "Stays 0: in a Best effort namespace, pods at any PriorityClass but ml-low get no GPUs.",
        ),
    ]
    html = best_effort.content.decode()
    assert "Guaranteed GPUs" not in html
    assert 'aria-describedby="f-quota-0-requests-nvidia-com-gpu-help f-quota-0-requests-nvidia-com-gpu-error"' in html


def test_a_best_effort_namespace_s_quota_form_never_says_guaranteed_gpus(world, client):
    client.force_login(get_user_model().objects.get(username="data-science-lead"))

    response = client.get(reverse("request-new", args=["change_quota"]), {"namespace": "ml-experiments"})

    assert [label for label, _ in gpu_inputs(response)] == [
        "Preemptible GPUs (requests.nvidia.com/gpu)",
        "GPUs of other PriorityClasses (requests.nvidia.com/gpu)",
    ]
    assert "Guaranteed GPUs" not in response.content.decode()


def test_the_preview_shows_the_yaml_provisioning_would_apply(as_role):
    response = as_role("lead_a").post(
        reverse("request-preview", args=["change_quota"]), quota_form(**{"quota|0|requests.nvidia.com/gpu": "12"})
    )

    html = response.content.decode()
    assert "kind: ResourceQuota" in html
    assert "requests.nvidia.com/gpu: &#x27;12&#x27;" in html


# Approval queue.


def test_the_queue_shows_capacity_impact_and_refuses_overcommit_without_override(as_role, pending):
    from django.utils import timezone

    connect("small", is_default=True, gpu_capacity=30, capacity_synced_at=timezone.now())
    client = as_role("approver")

    page = client.get(reverse("queue")).content.decode()
    forms = client.get(reverse("request-decision", args=[pending.pk]), HTTP_HX_REQUEST="true").content.decode()
    refused = client.post(reverse("request-approve", args=[pending.pk]), {}, HTTP_HX_REQUEST="true")
    approved = client.post(
        reverse("request-approve", args=[pending.pk]), {"override_capacity": "on"}, HTTP_HX_REQUEST="true"
    )

    assert "guaranteed GPUs 24 → <strong>32</strong> of 30" in page
    assert 'Capacity impact on <span class="mono">small</span>' in page
    assert "overcommits small" in page
    assert '<input type="checkbox" name="override_capacity"> Approve anyway' in forms
    assert refused.status_code == 409
    assert "Approving would guarantee 32 GPUs on a cluster with 30" in refused.content.decode()
    assert approved.status_code == 200
    assert Request.objects.get(pk=pending.pk).state == State.APPROVED
    assert 'hx-trigger="every 2s"' in approved.content.decode()


def test_the_queue_fetches_a_rows_decision_forms_when_it_is_opened_and_links_to_them_without_script(
    as_role, world, pending
):
    client = as_role("approver")
    decision = reverse("request-decision", args=[pending.pk])

    page = client.get(reverse("queue")).content.decode()
    forms = client.get(decision, HTTP_HX_REQUEST="true").content.decode()
    workflow.reject_request(pending.pk, actor=world.approver, note="Not now.")
    decided = client.get(decision, HTTP_HX_REQUEST="true").content.decode()

    assert f'<details hx-get="{decision}" hx-trigger="toggle once"' in page
    assert f'<a href="/requests/{pending.pk}/#decide">Decide on the request\'s page</a>' in page
    assert 'name="note"' not in page
    assert f'hx-post="/requests/{pending.pk}/approve/" hx-target="#decision-{pending.pk}"' in forms
    assert f'<input type="text" id="reject-note-{pending.pk}" name="note" required>' in forms
    assert "override_capacity" not in forms  # it fits the cluster
    assert 'name="note"' not in decided
    assert "Rejected" in decided


def test_the_queue_filters_mark_the_chosen_option_and_escape_names(as_role, world):
    world.research.name = "R&D <research>"
    world.research.save()

    page = as_role("approver").get(reverse("queue"), {"team": world.research.slug, "kind": "change_quota"})

    html = page.content.decode()
    assert f'<option value="{world.research.slug}" selected>R&amp;D &lt;research&gt;</option>' in html
    assert '<option value="change_quota" selected>Change quota</option>' in html
    assert '<option value="create_namespace">' in html


def test_rejecting_needs_a_note(as_role, pending):
    response = as_role("approver").post(reverse("request-reject", args=[pending.pk]), {"note": ""}, follow=True)

    assert "Say why the request is rejected; the requester reads it." in response.content.decode()
    assert Request.objects.get(pk=pending.pk).state == State.PENDING


def test_an_approver_cannot_approve_their_own_request_from_the_queue(world, client, pending):
    world.research_lead.is_staff = True
    world.research_lead.save()
    world.research_lead.groups.add(world.approver.groups.get())
    client.force_login(world.research_lead)

    page = client.get(reverse("queue")).content.decode()
    response = client.post(reverse("request-approve", args=[pending.pk]), {}, follow=True)

    assert "Your own request: another approver decides it." in page
    assert "Nobody can approve their own request" in response.content.decode()
    assert Request.objects.get(pk=pending.pk).state == State.PENDING


def test_the_fit_checker_names_what_would_not_fit(as_role):
    namespace = TeamNamespace.objects.get(name="ml-research")
    namespace.observed_quotas = {
        "ml-research-quota": {
            "hard": namespace.quotas[0]["hard"],
            "used": {"requests.nvidia.com/gpu": "6", "pods": "3"},
        }
    }
    namespace.save()

    response = as_role("lead_a").post(
        reverse("namespace-fit", args=["default", "ml-research"]), {"gpus": "4", "count": "1"}
    )
    bad = as_role("lead_a").post(reverse("namespace-fit", args=["default", "ml-research"]), {"gpus": "x", "count": "0"})

    html = response.content.decode()
    assert "It would not fit." in html
    assert "requests.nvidia.com/gpu in quota ml-research-quota: 6 used + 4 asked = 10 of 8" in html
    assert bad.status_code == 200
    assert "Between 1 and 1000 pods." in bad.content.decode()


# Constant query counts at 10 and at 500 rows.


def grow(world, rows: int) -> None:
    """`rows` namespaces and pending requests for the research team."""
    template = TeamNamespace.objects.get(name="ml-research")
    TeamNamespace.objects.bulk_create(
        TeamNamespace(
            name=f"research-{index}",
            cluster=template.cluster,
            team=world.research,
            tier=template.tier,
            quotas=template.quotas,
            limit_range=template.limit_range,
        )
        for index in range(rows)
    )
    Request.objects.bulk_create(
        Request(
            kind=Kind.CREATE_NAMESPACE,
            cluster=template.cluster,
            team=world.research,
            namespace_name=f"new-{index}",
            justification="x",
            requested_by=world.research_lead,
            proposed_spec={"tier": "high-priority", "quotas": template.quotas},
        )
        for index in range(rows)
    )


#: (role, page, arguments, most queries): the page, its objects, the header (menu, unread count), and each
#: panel's one read, whatever the number of rows: the queue's are the clusters' capacity, the tier catalog,
#: budgets, the rules' scores and failed grant ends.
PAGES = [
    ("lead_a", "dashboard", (), 15),
    ("lead_a", "request-list", (), 13),
    ("approver", "queue", (), 18),
    ("approver", "cluster-overview", (), 13),
    ("lead_a", "namespace-detail", ("default", "research-1"), 14),
]


@pytest.mark.parametrize("rows", [10, 500])
@pytest.mark.parametrize(("role", "name", "args", "most"), PAGES, ids=[page[1] for page in PAGES])
def test_pages_run_a_constant_number_of_queries(
    as_role, world, django_assert_max_num_queries, rows, role, name, args, most
):
    grow(world, rows)
    client = as_role(role)

    with django_assert_max_num_queries(most):
        response = client.get(reverse(name, args=args))

    assert response.status_code == 200


def test_the_queue_shows_twenty_requests_a_page_oldest_first_and_keeps_its_filters(as_role, world):
    grow(world, 24)
    client = as_role("approver")

    first = client.get(reverse("queue"), {"kind": "create_namespace"}).content.decode()
    second = client.get(reverse("queue"), {"kind": "create_namespace", "page": "2"}).content.decode()
    not_a_page = client.get(reverse("queue"), {"page": "abc"})

    shown = [set(re.findall(r'<li class="card queue-row" id="request-(\d+)"', html)) for html in (first, second)]
    assert [len(ids) for ids in shown] == [20, 4]
    assert shown[0] | shown[1] == {
        str(pk) for pk in Request.objects.filter(state=State.PENDING).values_list("pk", flat=True)
    }
    assert max(map(int, shown[0])) < min(map(int, shown[1]))
    assert "Requests 1 to 20 of 24, oldest first." in first
    assert '<a href="?kind=create_namespace&amp;page=2">Newer</a>' in first
    assert '<a href="?kind=create_namespace&amp;page=1">Older</a>' in second
    assert not_a_page.status_code == 200
    assert "Requests 1 to 20 of 24, oldest first." in not_a_page.content.decode()


def test_the_dashboard_shows_twelve_namespaces_a_page_by_name(as_role, world):
    grow(world, 15)
    client = as_role("lead_a")
    names = sorted(TeamNamespace.objects.visible_to(world.research_lead).live().values_list("name", flat=True))

    first = client.get(reverse("dashboard")).content.decode()
    second = client.get(reverse("dashboard"), {"page": "2"}).content.decode()
    not_a_page = client.get(reverse("dashboard"), {"page": "abc"}).content.decode()

    cards = [re.findall(r'<h2 id="ns-\d+"><a href="[^"]+">([^<]+)</a>', html) for html in (first, second, not_a_page)]
    assert len(names) == 16
    assert cards == [names[:12], names[12:], names[:12]]
    assert "Namespaces 1 to 12 of 16, by name." in first
    assert '<a href="?page=2">Next</a>' in first
    assert "Namespaces 13 to 16 of 16, by name." in second
    assert '<a href="?page=1">Previous</a>' in second


def test_deciding_a_request_that_does_not_exist_is_404_not_500(as_role):
    client = as_role("approver")

    assert client.post(reverse("request-approve", args=[999999])).status_code == 404
    assert client.post(reverse("request-reject", args=[999999]), {"note": "x"}).status_code == 404
    assert client.post(reverse("request-retry", args=[999999])).status_code == 404
    response = client.post(reverse("queue-bulk-approve"), {"selected": ["999999", "abc"]}, follow=True)
    assert "Not approved #999999: no such request" in response.content.decode()


def test_the_dashboard_flags_a_namespace_whose_request_failed(as_role, pending, world):
    workflow.approve_request(pending.pk, actor=world.approver)
    workflow.mark_applying(pending.pk, actor=system_actor())
    workflow.mark_failed(pending.pk, actor=system_actor(), error="403 Forbidden")

    html = as_role("member").get(reverse("dashboard")).content.decode()

    assert 'title="A request for it failed to apply">failed</span>' in html
