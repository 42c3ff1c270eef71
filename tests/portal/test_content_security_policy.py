"""Every page is served under a Content-Security-Policy that allows no inline script or style, and needs none."""

import re

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.requests import ask_for_gpus

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def directives(header: str) -> set[str]:
    return {part.strip() for part in header.split(";")}


def assert_served_under_the_policy_and_needs_nothing_inline(response) -> str:
    page = response.content.decode()
    assert INLINE_SCRIPT.findall(page) == []
    assert INLINE_STYLE.findall(page) == []
    assert HANDLER.findall(page) == []
    assert directives(response["Content-Security-Policy"]) == directives(POLICY)
    return page


@pytest.fixture
def portal(world):
    """ml-research synced at 6 of 8 GPUs, and a pending request, so that every page has something to show."""
    research = world.namespace("ml-research")
    research.observed_quotas = {
        "ml-research-quota": {"hard": {"requests.nvidia.com/gpu": "8"}, "used": {"requests.nvidia.com/gpu": "6"}}
    }
    research.save(update_fields=["observed_quotas"])
    world.pending = ask_for_gpus(world, research, "12")
    return world


@pytest.mark.parametrize(
    ("persona", "path"),
    [
        ("research_lead", "/teams/"),
        ("research_lead", "/requests/"),
        ("research_lead", "/requests/{pending}/"),
        ("research_lead", "/requests/new/change_quota/?cluster=default&namespace=ml-research"),
        ("research_lead", "/clusters/default/namespaces/ml-research/chart/?range=24h"),
        ("research_lead", "/profile/"),
        ("approver", "/queue/"),
        ("approver", "/cluster/"),
        ("finance", "/chargeback/"),
    ],
)
def test_the_portals_pages_need_no_inline_script_style_or_handler(portal, client, persona, path):
    client.force_login(getattr(portal, persona))

    response = client.get(path.format(pending=portal.pending.pk))

    assert response.status_code == 200
    assert_served_under_the_policy_and_needs_nothing_inline(response)


def test_the_usage_bar_is_an_svg_rect_sized_by_an_attribute(portal, client):
    client.force_login(portal.research_lead)

    page = assert_served_under_the_policy_and_needs_nothing_inline(
        client.get("/clusters/default/namespaces/ml-research/")
    )

    assert '<svg class="bar ok" role="img" aria-label="75% of hard"><rect height="100%" width="75%"/></svg>' in page


def test_htmx_is_told_to_inject_no_style_and_evaluate_nothing(db, client):
    page = assert_served_under_the_policy_and_needs_nothing_inline(client.get("/accounts/login/"))

    assert (
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false, '
        '"allowScriptTags": false}\'>' in page
    )


def test_the_lockout_page_needs_nothing_inline(world, settings):
    settings.AXES_FAILURE_LIMIT = 1
    client = Client(REMOTE_ADDR="10.0.0.1")

    response = client.post("/accounts/login/", {"username": "finance", "password": django_settings.DEMO_PASSWORD + "x"})

    assert response.status_code == 429
    assert_served_under_the_policy_and_needs_nothing_inline(response)


def test_swagger_ui_loads_its_start_up_script_as_a_file(db, client):
    page = assert_served_under_the_policy_and_needs_nothing_inline(client.get("/api/schema/swagger/"))
    script = client.get("/api/schema/swagger/?script=")

    assert '<script src="/api/schema/swagger/?script="></script>' in page
    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_browsable_api_alone_may_use_inline_style_attributes_and_json_keeps_the_strict_policy(world, client):
    client.force_login(world.approver)

    html = client.get("/api/v1/teams/", HTTP_ACCEPT="text/html")
    json = client.get("/api/v1/teams/", HTTP_ACCEPT="application/json")

    assert INLINE_SCRIPT.findall(html.content.decode()) == []
    assert directives(html["Content-Security-Policy"]) == directives(POLICY) - {"style-src 'self'"} | {
        "style-src 'self' 'unsafe-inline'"
    }
    assert directives(json["Content-Security-Policy"]) == directives(POLICY)
