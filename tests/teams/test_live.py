"""Live fragments: usage, the queue's guaranteed total and a request's state follow the database without a reload."""

from django.urls import reverse

from teams import workflow
from teams.models import Request
from tests.requests import ask_for_gpus

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_the_usage_fragment_shows_the_latest_sync_and_polls_at_the_sync_interval(world, sign_in, settings):
    settings.PROVISIONING_SYNC_INTERVAL = 7
    namespace = world.namespace("ml-research")
    client = sign_in("research-lead")
    page = client.get(reverse("namespace-detail", args=["default", "ml-research"])).content.decode()
    assert 'hx-get="/clusters/default/namespaces/ml-research/usage/" hx-trigger="every 7s"' in page
    namespace.observed_quotas = {
        "ml-research-quota": {"hard": {"requests.nvidia.com/gpu": "8"}, "used": {"requests.nvidia.com/gpu": "5"}}
    }
    namespace.save()

    fragment = client.get(reverse("namespace-usage", args=["default", "ml-research"]), **HTMX).content.decode()

    assert fragment.startswith(f'<div class="usage-live" id="usage-{namespace.pk}"')
    assert '<td class="num">5</td>' in fragment
    assert "<html" not in fragment


def test_the_usage_fragment_names_other_quotas_shows_unreported_usage_and_escapes_what_the_cluster_reports(
    world, sign_in
):
    namespace = world.namespace("ml-research")
    namespace.observed_quotas = {
        "ml-research-quota": {"hard": {"requests.nvidia.com/gpu": "8"}, "used": {"requests.nvidia.com/gpu": "6"}},
        "<b>extra</b>": {"hard": {"pods": "10"}},
    }
    namespace.save()

    fragment = sign_in("research-lead").get(reverse("namespace-usage", args=["default", "ml-research"]), **HTMX)

    rows = fragment.content.decode().split("<tr>")[2:]
    assert rows[0] == (
        '<th scope="row" class="mono">requests.nvidia.com/gpu</th><td class="num">6</td><td class="num">8</td>'
        '<td class="bar-cell"><svg class="bar ok" role="img" aria-label="75% of hard">'
        '<rect height="100%" width="75%"/></svg></td></tr>'
    )
    assert rows[1].startswith(
        '<th scope="row" class="mono">pods <span class="muted">(&lt;b&gt;extra&lt;/b&gt;)</span></th>'
        '<td class="num"><span class="muted" title="The quota controller has not reported usage yet">unknown</span>'
    )


def test_another_teams_usage_fragment_is_a_404(world, sign_in):
    response = sign_in("research-lead").get(reverse("namespace-usage", args=["default", "ml-production"]), **HTMX)

    assert response.status_code == 404


def test_the_queue_header_fragment_follows_an_applied_change(world, sign_in, settings):
    settings.PROVISIONING_SYNC_INTERVAL = 5
    client = sign_in("approver")
    assert 'hx-trigger="every 5s, capacity-changed from:body"' in client.get(reverse("queue")).content.decode()
    workflow.approve_request(ask_for_gpus(world, world.namespace("ml-research"), "12").pk, actor=world.approver)

    fragment = client.get(reverse("queue"), HTTP_HX_TARGET="capacity", **HTMX).content.decode()

    assert fragment.startswith('<div id="capacity" class="capacity"')
    assert "Guaranteed GPUs: <strong>28</strong>" in fragment
    assert "Approval queue" not in fragment


def test_a_requests_state_polls_until_it_settles(world, sign_in):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")
    client = sign_in("research-lead")
    url = reverse("request-detail", args=[pending.pk])
    assert f'<div id="state" hx-get="{url}"' in client.get(url).content.decode()

    workflow.reject_request(pending.pk, actor=world.approver, note="Not this quarter.")
    fragment = client.get(url, HTTP_HX_TARGET="state", **HTMX).content.decode()

    assert fragment.startswith('<div id="state"><span class="badge state-rejected">Rejected</span>')
    assert "hx-get" not in fragment  # settled: the polling stops
    assert Request.objects.get(pk=pending.pk).state == Request.State.REJECTED


def test_a_decision_in_the_queue_tells_the_header_to_reload_at_once(world, sign_in):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")

    response = sign_in("approver").post(reverse("request-reject", args=[pending.pk]), {"note": "Not now."}, **HTMX)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "capacity-changed"
