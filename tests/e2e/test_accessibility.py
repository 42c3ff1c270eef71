"""axe-core, from its npm package (`make browser`), finds no serious or critical violation on any page."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.e2e.pages import PAGES, journey_requests, open_page, page_text
from tests.e2e.test_phone_width import DESKTOP, PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "node" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def axe_page(browser, live_server):
    """A session signed in as `username` that may inject axe: the portal's CSP rightly refuses injected scripts."""
    if not AXE.exists():
        pytest.fail(f"no {AXE}: `make browser` installs axe-core from tests/e2e/node/package-lock.json")
    contexts = []

    def open_as(username: str | None):
        """Signed in as `username`, or a visitor who has not signed in (None)."""
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        if username is None:
            return page
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    yield open_as
    for context in contexts:
        context.close()


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[node['target'] for node in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "desktop"])
def test_no_page_has_a_serious_or_critical_axe_violation(world, cluster, axe_page, live_server, viewport):
    requests = journey_requests(world)
    pages = {}
    found = {}
    for username, template, text in PAGES:
        path = template.format(**requests)
        page = pages.get(username) or pages.setdefault(username, axe_page(username))
        page.set_viewport_size(viewport)
        open_page(page, live_server.url, path)
        assert text in page_text(page, path), path
        if problems := serious_violations(page):
            found[f"{username} {path}"] = problems

    assert found == {}


def test_the_sign_in_page_has_no_serious_or_critical_axe_violation(browser, live_server):
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")

    assert serious_violations(page) == []
    # The harness itself: an image without alternative text is a critical violation axe must report.
    page.evaluate("document.body.append(Object.assign(document.createElement('img'), {src: '/x.png'}))")
    assert [problem.split(" ")[0] for problem in serious_violations(page)] == ["image-alt"]
    context.close()


def test_after_a_server_side_error_focus_is_on_the_summary_and_the_title_says_so(world, sign_in, live_server):
    lead = sign_in("research-lead")
    lead.goto(f"{live_server.url}/requests/new/change_quota/?namespace=ml-research")
    lead.get_by_label("CPU requests (requests.cpu)").fill("lots")
    lead.get_by_label("Justification").fill("More CPU for the deadline.")
    lead.get_by_role("button", name="Send to the approvers").click()
    lead.wait_for_load_state()

    assert lead.title() == "Error: not sent · Change quota · GPU Quota Portal"
    assert lead.evaluate("document.activeElement.id") == "error-summary"
    lead.get_by_role("link", name="CPU requests (requests.cpu): Not a valid quantity").click()
    assert lead.evaluate("document.activeElement.id") == "f-quota-0-requests-cpu"
