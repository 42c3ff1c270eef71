"""Every page fits a 390 px phone without scrolling sideways; tables may scroll inside their card."""

import pytest

from tests.e2e.pages import PAGES
from tests.requests import ask_for_gpus

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

#: Cells that were cut off at 390 px: they must lie wholly inside the window, not behind a scroll.
IN_VIEW = {
    "/teams/": ".usage thead th:nth-child(3)",  # Hard
    "/namespaces/ml-research/": ".usage thead th:nth-child(3)",
    "/queue/": "tr.changed td.num >> nth=-1",  # the proposed 12
}


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_no_page_scrolls_sideways(world, cluster, sign_in, live_server, screenshots, viewport):
    pending = ask_for_gpus(world, world.namespace("ml-research"), "12")
    pages = {}
    overflowing = {}
    for username, path, text in PAGES:
        page = pages.get(username) or pages.setdefault(username, sign_in(username))
        page.set_viewport_size(viewport)
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        assert text in page.locator("main").inner_text(), path
        if path == "/queue/":
            assert "12" in page.locator(f"#request-{pending.pk}").inner_text()
        if path in IN_VIEW:
            box = page.locator(IN_VIEW[path]).first.bounding_box()
            assert box["x"] >= 0, (path, box)
            assert box["x"] + box["width"] <= viewport["width"], (path, box)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            overflowing[path] = width
        name = path.strip("/").split("?")[0].replace("/", "-") or "home"
        page.screenshot(path=screenshots / f"width-{viewport['width']}-{name}.png", full_page=True)

    assert overflowing == {}
