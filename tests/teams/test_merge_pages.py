"""The pages' side of merge requests: the form sends removals explicitly, pages show them in red,
bulk approval leaves them alone, and a request that changes nothing is refused."""

from django.urls import reverse

from teams import workflow
from teams.models import Request

GPU = "requests.nvidia.com/gpu"
REMOVED_ROW = '<tr class="changed removed">'


def quota_form(world, **overrides) -> dict:
    namespace = world.namespace("ml-research")
    data = {f"quota|0|{key}": value for key, value in namespace.quotas[0]["hard"].items()}
    data.update({"namespace": "ml-research", "justification": "Fewer objects, more GPUs."})
    data.update(overrides)
    return data


def limit_form(world, **overrides) -> dict:
    data = {"namespace": "ml-research", "justification": "Tighter limits."}
    for item in world.namespace("ml-research").limit_range["limits"]:
        for bound, values in item.items():
            if bound != "type":
                data.update({f"limit|{item['type']}|{bound}|{resource}": value for resource, value in values.items()})
    data.update(overrides)
    return data


def submit(client, kind: str, data: dict):
    return client.post(reverse("request-new", args=[kind]), data)


def remove_configmaps(world) -> Request:
    return workflow.submit_request(
        actor=world.research_lead,
        team=world.research,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=world.namespace("ml-research"),
        proposed={"quotas": [{"name": "ml-research-quota", "hard": {"configmaps": None}}]},
        justification="ConfigMaps are unlimited now.",
    )


def test_an_emptied_quota_input_removes_that_key_and_keeps_the_rest(world, client):
    client.force_login(world.research_lead)

    response = submit(client, "change_quota", quota_form(world, **{"quota|0|secrets": "", f"quota|0|{GPU}": "12"}))

    request = Request.objects.get()
    assert response.status_code == 302
    hard = request.proposed_spec["quotas"][0]["hard"]
    assert "secrets" not in hard
    assert (hard[GPU], hard["configmaps"], len(hard)) == ("12", "50", 11)
    assert [(row["field"], row["change"]) for row in request.changes] == [
        (f"quotas[ml-research-quota].hard[{GPU}]", "changed"),
        ("quotas[ml-research-quota].hard[secrets]", "removed"),
    ]


def test_the_form_refuses_a_request_that_changes_nothing(world, client):
    client.force_login(world.research_lead)

    response = submit(client, "change_quota", quota_form(world))

    assert response.status_code == 400
    assert "Nothing to change: this request leaves the namespace as it is." in response.content.decode()
    assert Request.objects.count() == 0


def test_the_unedited_form_does_not_call_itself_unchanged(world, client):
    client.force_login(world.research_lead)

    response = client.get(reverse("request-new", args=["change_quota"]), {"namespace": "ml-research"})

    assert response.status_code == 200
    assert "Nothing to change" not in response.content.decode()


def test_the_tier_form_refuses_the_current_tier(world, client):
    client.force_login(world.research_lead)
    data = {"namespace": "ml-research", "tier": "high-priority", "justification": "Same tier."}

    response = submit(client, "change_tier", data)

    assert response.status_code == 400
    assert "Nothing to change: the namespace is already in the high-priority tier." in response.content.decode()
    assert Request.objects.count() == 0


def test_the_limit_range_form_sends_emptied_cells_and_rows_as_removals(world, client):
    client.force_login(world.research_lead)
    data = limit_form(
        world,
        **{
            "limit|Container|max|memory": "",
            "limit|PersistentVolumeClaim|min|storage": "",
            "limit|PersistentVolumeClaim|max|storage": "",
        },
    )

    submit(client, "change_limit_range", data)

    limit_range = Request.objects.get().proposed_spec["limitRange"]
    assert [item["type"] for item in limit_range["limits"]] == ["Container"]
    assert limit_range["limits"][0]["max"] == {"cpu": "32", "nvidia.com/gpu": "8"}
    assert limit_range["limits"][0]["min"] == {"cpu": "100m", "memory": "128Mi"}


def test_the_limit_range_form_refuses_a_limit_range_that_changes_nothing(world, client):
    client.force_login(world.research_lead)

    response = submit(client, "change_limit_range", limit_form(world))

    assert response.status_code == 400
    assert "Nothing to change: this request leaves the namespace as it is." in response.content.decode()


def test_the_request_page_shows_a_removal_in_red(world, client):
    request = remove_configmaps(world)
    client.force_login(world.research_member)

    html = client.get(reverse("request-detail", args=[request.pk])).content.decode()

    assert REMOVED_ROW in html
    assert "<strong>removed</strong>" in html
    assert '<td class="mono">configmaps</td>' in html


def test_the_queue_shows_a_removal_in_red_and_bulk_approval_skips_it(world, client):
    removal = remove_configmaps(world)
    other = workflow.submit_request(
        actor=world.platform_lead,
        team=world.platform,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=world.namespace("ml-production"),
        proposed={"quotas": [{"name": "ml-production-objects", "hard": {"services": "60"}}]},
        justification="More services.",
    )
    client.force_login(world.approver)

    page = client.get(reverse("queue")).content.decode()
    response = client.post(reverse("queue-bulk-approve"), {"selected": [removal.pk, other.pk]}, follow=True)

    assert REMOVED_ROW in page
    assert "Removes 1 limit from the namespace: approve it on its own; bulk approval skips it." in page
    assert f'value="{removal.pk}" form="bulk" disabled>' in page
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        f"Approved #{other.pk}.",
        f"Not approved #{removal.pk}: it removes quotas[ml-research-quota].hard[configmaps]; approve it on its own.",
    ]
    assert Request.objects.get(pk=removal.pk).state == Request.State.PENDING
    assert Request.objects.get(pk=other.pk).state == Request.State.APPROVED
