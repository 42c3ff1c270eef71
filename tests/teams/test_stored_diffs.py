"""A request's diff is fixed when it is sent and shown the same forever (issue 11, "Diffs that lie")."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from teams import workflow
from teams.events import system_actor
from teams.models import Request
from teams.templatetags.diff_rows import diff_rows
from tests.requests import ask_for_gpus, ask_for_namespace

GPU_ROW = (
    '<td class="mono">requests.nvidia.com/gpu</td><td class="num">8</td><td class="num">16 '
    '<span class="visually-hidden">(changed)</span></td>'
)
CURRENT_HEAD = '<th scope="col">Current</th>'


def page(client, item: Request) -> str:
    return client.get(reverse("request-detail", args=[item.pk])).content.decode()


def api_changes(user, item: Request) -> list[dict]:
    client = APIClient()
    client.force_authenticate(user)
    return client.get(f"/api/v1/requests/{item.pk}/").json()["changes"]


def test_a_new_namespace_has_no_current_column_and_no_phantom_quota(world, client):
    item = ask_for_namespace(world, name="ml-vision")
    client.force_login(world.approver)

    detail = page(client, item)
    queue = client.get(reverse("queue")).content.decode()
    changes = api_changes(world.approver, item)

    assert CURRENT_HEAD not in detail
    assert CURRENT_HEAD not in queue
    assert "namespace-quota" not in detail + queue
    assert {row["change"] for row in changes} == {"added"}
    assert {row["current"] for row in changes} == {None}
    assert {row["object"] for row in changes if row["field"].startswith("quotas")} == {"ml-research-quota"}


def test_the_create_form_shows_no_current_column_and_no_phantom_quota(world, client):
    client.force_login(world.research_lead)

    response = client.get(reverse("request-new", args=["create_namespace"]))

    html = response.content.decode()
    assert "caption>What this request changes</caption>" in html
    assert CURRENT_HEAD not in html
    assert "<strong>removed</strong>" not in html


@pytest.mark.parametrize("end", ["cancel", "reject", "apply"])
def test_a_change_keeps_its_current_column_after_it_ends(world, client, end):
    namespace = world.namespace("ml-research")
    item = ask_for_gpus(world, namespace, "16")
    client.force_login(world.research_lead)
    sent_page, sent_api = page(client, item), api_changes(world.research_lead, item)

    if end == "cancel":
        workflow.cancel_request(item.pk, actor=world.research_lead)
    elif end == "reject":
        workflow.reject_request(item.pk, actor=world.approver, note="Use ml-experiments.")
    else:
        workflow.approve_request(item.pk, actor=world.approver)
        workflow.mark_applying(item.pk, actor=system_actor())
        workflow.mark_applied(item.pk, actor=system_actor())
        namespace.refresh_from_db()
        assert namespace.quotas[0]["hard"]["requests.nvidia.com/gpu"] == "16"

    ended_page, ended_api = page(client, item), api_changes(world.research_lead, item)

    assert GPU_ROW in sent_page
    assert GPU_ROW in ended_page
    assert CURRENT_HEAD in ended_page
    assert ended_api == sent_api
    gpu = next(row for row in ended_api if row["key"] == "requests.nvidia.com/gpu")
    assert (gpu["current"], gpu["proposed"], gpu["change"]) == ("8", "16", "changed")


def test_diff_rows_name_each_object_once_mark_removals_and_escape_what_they_show():
    diff = [
        {"object": "q<1>", "key": "pods", "current": "4", "proposed": "8", "change": "changed"},
        {"object": "q<1>", "key": "limits.cpu", "current": None, "proposed": "2", "change": "added"},
        {"object": "q<1>", "key": "limits.memory", "current": "1Gi", "proposed": None, "change": "removed"},
    ]

    assert diff_rows(diff, "change_quota").split("</tr>")[:3] == [
        '<tr class="changed"><td class="mono">q&lt;1&gt;</td><td class="mono">pods</td><td class="num">4</td>'
        '<td class="num">8 <span class="visually-hidden">(changed)</span></td>',
        '<tr class="changed added"><td class="mono"></td><td class="mono">limits.cpu</td><td class="num">—</td>'
        '<td class="num">2 <span class="visually-hidden">(added)</span></td>',
        '<tr class="changed removed"><td class="mono"></td><td class="mono">limits.memory</td><td class="num">1Gi</td>'
        '<td class="num"><strong>removed</strong> <span class="visually-hidden">(removed)</span></td>',
    ]
    assert '<td class="num">4</td>' not in diff_rows(diff, "create_namespace")
