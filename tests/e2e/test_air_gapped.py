"""The API docs work air-gapped: the page asks nothing of any origin but the portal's, even without the CSP."""

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_page_requests_nothing_outside_the_portal(world, browser, live_server):
    # Without the Content-Security-Policy, which would refuse such a request: what the page asks for is what it needs.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server.url}/api/schema/swagger/")
    page.locator(".swagger-ui .info").get_by_text("GPU Quota Portal API").first.wait_for()
    page.locator(".opblock-summary").first.click()
    page.locator(".opblock-body").first.wait_for()
    page.wait_for_load_state("networkidle")

    outside = [url for url in requested if not url.startswith((live_server.url, "data:", "blob:"))]
    assert outside == []
    assert f"{live_server.url}/api/schema/" in requested
    # The recorder sees a request to another origin, as ReDoc's logo from Redocly's CDN was.
    page.evaluate("new Image().src = 'https://cdn.redoc.ly/redoc/logo-mini.svg'")
    page.wait_for_load_state("networkidle")
    assert [url for url in requested if not url.startswith(live_server.url)][-1:] == [
        "https://cdn.redoc.ly/redoc/logo-mini.svg"
    ]
    context.close()
