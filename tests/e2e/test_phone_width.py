"""Every page fits a 390 px phone without scrolling sideways; tables may scroll inside their card."""

import pytest

from tests.e2e.conftest import watch_csp
from tests.e2e.pages import PAGES, journey_requests, open_page, page_text

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
def test_no_page_scrolls_sideways(world, cluster, browser, sign_in, live_server, screenshots, csp_violations, viewport):
    requests = journey_requests(world)
    pages = {}
    overflowing = {}
    for username, template, text in PAGES:
        path = template.format(**requests)
        if username not in pages:
            pages[username] = sign_in(username) if username else browser.new_context().new_page()
            if username is None:  # sign_in watches its own pages
                watch_csp(pages[username], csp_violations)
        page = pages[username]
        page.set_viewport_size(viewport)
        open_page(page, live_server.url, path)
        assert text in page_text(page, path), path
        if path == "/queue/" and username == "approver":
            assert "12" in page.locator(f"#request-{requests['pending']}").inner_text()
        if path in IN_VIEW and username != "research-member":
            box = page.locator(IN_VIEW[path]).first.bounding_box()
            assert box["x"] >= 0, (path, box)
            assert box["x"] + box["width"] <= viewport["width"], (path, box)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            overflowing[f"{username} {path}"] = width
        name = f"{username or 'visitor'}-{path.strip('/').split('?')[0].replace('/', '-') or 'home'}"
        page.screenshot(path=screenshots / f"width-{viewport['width']}-{name}.png", full_page=True)
    pages[None].context.close()

    assert overflowing == {}
