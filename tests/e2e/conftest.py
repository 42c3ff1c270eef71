"""A real browser (Debian's chromium, driven by Playwright) against the portal on a live server."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, sync_playwright

from tests.oidc_provider import oidc_provider, sso  # noqa: F401  (fixtures: a real OpenID provider)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: Flags for a sandbox without network: no sandboxing as root, and nothing that calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no chromium at {CHROMIUM}: `make test` installs Debian's chromium package")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Screenshots of the key pages, kept as test artifacts outside the repository."""
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or tempfile.mkdtemp(prefix="gpu-portal-e2e-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {folder}")
    return folder


@pytest.fixture
def csp_violations() -> Iterator[list[str]]:
    """What the browser refused under the Content-Security-Policy, from the console of every page opened.

    A test passes only if there was none: a refused script or style is a page that silently broke.
    """
    violations: list[str] = []
    yield violations
    assert violations == []


def watch_csp(page: Page, violations: list[str], *, expected: str | None = None) -> None:
    """Record each refusal the browser logs on `page`, with the address of the page that caused it.

    `expected` names a refusal that is the policy doing its job (a third-party page reaching outside).
    """

    def record(message) -> None:
        if "Content Security Policy" in message.text and not (expected and expected in message.text):
            violations.append(f"{page.url}: {message.text}")

    page.on("console", record)


@pytest.fixture
def sign_in(browser: Browser, live_server, csp_violations: list[str]):
    """A fresh browser session signed in as `username`, with seed_demo's password."""
    pages: list[Page] = []

    def open_as(username: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_csp(page, csp_violations)
        page.set_default_timeout(20_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password").fill(settings.DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        pages.append(page)
        return page

    yield open_as
    for page in pages:
        page.context.close()
