"""Forms that keep what was typed, and actions that ask before they undo something (issue 11)."""

from django.urls import reverse

from teams.models import AuditEvent, Request
from tests.requests import ask_for_gpus

State = Request.State


def test_changing_the_tier_keeps_the_name_the_end_date_and_the_justification(world, client):
    client.force_login(world.research_lead)

    response = client.get(
        reverse("request-new", args=["create_namespace"]),
        {
            "team": world.research.pk,
            "tier": "best-effort",
            "namespace_name": "ml-vision",
            "until": "2099-01-31",
            "justification": "The vision group starts next week.",
        },
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="namespace_name" value="ml-vision"' in html
    assert ">The vision group starts next week.</textarea>" in html
    assert 'name="until" value="2099-01-31"' in html
    assert response.context["form"].tier.value == "best-effort"
    fields = "[name=team],[name=cluster],[name=tier],[name=namespace_name],[name=until],[name=justification]"
    assert f'hx-include="{fields}"' in html


def test_the_request_page_links_to_a_confirmation_instead_of_cancelling(world, client):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "16")
    client.force_login(world.research_lead)

    detail = client.get(reverse("request-detail", args=[pending.pk])).content.decode()
    confirm = client.get(reverse("request-cancel", args=[pending.pk]))

    assert f'<a class="button" href="/requests/{pending.pk}/cancel/">Cancel this request</a>' in detail
    assert confirm.status_code == 200
    assert f"Cancel request #{pending.pk}: Change quota" in confirm.content.decode()
    assert Request.objects.get(pk=pending.pk).state == State.PENDING
    assert not AuditEvent.objects.filter(verb="request.cancelled").exists()


def test_confirming_cancels_and_redirects_so_a_reload_does_not_post_again(world, client):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "16")
    client.force_login(world.research_lead)

    confirmed = client.post(reverse("request-cancel", args=[pending.pk]))
    again = client.get(reverse("request-cancel", args=[pending.pk]))

    assert (confirmed.status_code, confirmed["Location"]) == (302, f"/requests/{pending.pk}/")
    assert Request.objects.get(pk=pending.pk).state == State.CANCELLED
    assert "It is cancelled and can no longer be cancelled." in again.content.decode()
    assert "Cancel the request</button>" not in again.content.decode()


def test_only_the_requester_is_asked_to_confirm_a_cancellation(world, client):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "16")

    client.force_login(world.research_member)
    member = client.get(reverse("request-cancel", args=[pending.pk]))
    client.force_login(world.platform_lead)
    other_team = client.get(reverse("request-cancel", args=[pending.pk]))

    assert (member.status_code, other_team.status_code) == (403, 404)


def test_submitting_a_request_redirects_to_it(world, client):
    client.force_login(world.research_lead)
    namespace = world.namespace("ml-research")
    form = client.get(reverse("request-new", args=["change_quota"]), {"namespace": "ml-research"}).context["form"]
    data = {item.name: item.value for block in form.quotas for item in block.inputs}
    data |= {"namespace": namespace.name, "quota|0|requests.nvidia.com/gpu": "16", "justification": "ICML deadline."}

    response = client.post(reverse("request-new", args=["change_quota"]), data)

    created = Request.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/requests/{created.pk}/")
