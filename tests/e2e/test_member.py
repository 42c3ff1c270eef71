"""A team member's journey in Chromium, on a phone and a desktop: their team's namespaces and usage, read-only.

Per teams/roles.py a member sees their team's namespaces, requests and costs, and asks for nothing
(only leads do), approves nothing and sees no other team's namespace.
"""

import pytest

from tests.e2e.pages import scrolls_sideways
from tests.e2e.test_phone_width import DESKTOP, PHONE
from tests.requests import ask_for_gpus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GPU = "requests.nvidia.com/gpu"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_a_member_reads_their_teams_namespaces_and_usage_and_may_neither_ask_nor_approve(
    world, sign_in, live_server, screenshots, viewport
):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")
    member = sign_in("research-member")
    member.set_viewport_size(viewport)
    wide = []

    def visit(path: str) -> None:
        member.goto(f"{live_server.url}{path}")
        member.wait_for_load_state("networkidle")
        if scrolls_sideways(member):
            wide.append(path)

    visit("/")
    assert member.url == f"{live_server.url}/teams/"
    cards = member.locator("section.card")
    assert cards.locator("h2").all_inner_texts() == ["ml-research"]
    assert cards.locator(".usage tr", has_text=GPU).first.locator("td").nth(1).inner_text() == "8"
    assert member.get_by_role("link", name="Ask for a namespace").count() == 0
    assert member.get_by_role("link", name="Change quota").count() == 0
    member.screenshot(path=screenshots / f"member-{viewport['width']}-dashboard.png", full_page=True)

    visit("/namespaces/ml-research/")
    assert "priorityClassName: ml-high" in member.locator("#job-yaml").text_content()
    assert member.get_by_role("link", name="Change quota").count() == 0
    member.get_by_label("GPUs per pod").fill("2")
    member.get_by_role("button", name="Check").click()
    member.locator("#fit-answer").get_by_text("It fits.").wait_for()

    visit("/requests/")
    member.get_by_role("link", name=f"#{pending.pk}").click()
    member.wait_for_url(f"**/requests/{pending.pk}/")
    assert "Pending" in member.locator("#state").inner_text()
    assert member.get_by_role("link", name="Cancel this request").count() == 0
    assert member.get_by_role("link", name="Decide in the approval queue").count() == 0

    visit("/requests/new/change_quota/?namespace=ml-research")
    assert member.get_by_role("heading", name="Not allowed").is_visible()
    assert "Only a lead of team research can submit its requests." in member.locator("main").inner_text()
    visit("/queue/")
    assert member.get_by_role("heading", name="Not allowed").is_visible()
    visit("/namespaces/ml-production/")
    assert member.get_by_role("heading", name="Not found").is_visible()

    visit("/chargeback/")
    assert member.get_by_role("heading", name="Chargeback").is_visible()
    assert "Data Science" not in member.locator("main").inner_text()
    assert wide == []
