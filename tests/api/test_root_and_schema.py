"""GET /api/v1/ lists every endpoint; the schema and its docs need sign-in unless API_SCHEMA_PUBLIC."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = "http://testserver/api/v1/"
ENDPOINTS = {
    "cost-centers": f"{BASE}cost-centers/",
    "tiers": f"{BASE}tiers/",
    "teams": f"{BASE}teams/",
    "namespaces": f"{BASE}namespaces/",
    "requests": f"{BASE}requests/",
    "autoapproval-rules": f"{BASE}autoapproval-rules/",
    "clusters": f"{BASE}clusters/",
    "usage-samples": f"{BASE}usage-samples/",
    "chargeback": f"{BASE}chargeback/",
}
DOCS = ["/api/schema/swagger/"]


@pytest.mark.parametrize("persona", ["member", "finance", "token_read_only"])
def test_the_api_root_lists_every_endpoint_of_the_three_apps(clients, persona):
    response = clients[persona].get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == ENDPOINTS


def test_the_api_root_is_browsable(clients):
    response = clients.member.get("/api/v1/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"GPU Quota Portal API" in response.content
    assert b'href="http://testserver/api/v1/namespaces/"' in response.content


def test_the_api_root_needs_credentials(clients):
    response = clients.anonymous.get("/api/v1/")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_every_endpoint_the_root_lists_answers(clients):
    statuses = {name: clients.finance.get(url).status_code for name, url in ENDPOINTS.items() if name != "chargeback"}
    chargeback = clients.finance.get(ENDPOINTS["chargeback"], {"start": "2026-10-01", "end": "2026-11-01"})

    assert statuses == dict.fromkeys(statuses, 200)
    assert chargeback.status_code == 200


def test_without_the_setting_the_schema_and_docs_need_sign_in(clients, settings):
    settings.API_SCHEMA_PUBLIC = False

    schema = clients.anonymous.get("/api/schema/")
    docs = [clients.anonymous.get(path) for path in DOCS]

    assert schema.status_code == 401
    assert yaml.safe_load(schema.content)["code"] == "not_authenticated"  # in the schema's own format
    assert [(page.status_code, page["Location"]) for page in docs] == [
        (302, f"/accounts/login/?next={path}") for path in DOCS
    ]


@pytest.mark.parametrize("persona", ["member", "token_read_only"])
def test_signed_in_users_read_the_schema_and_docs_without_the_setting(clients, settings, persona):
    settings.API_SCHEMA_PUBLIC = False

    schema = clients[persona].get("/api/schema/")

    assert schema.status_code == 200
    assert b"openapi: 3.0.3" in schema.content
    if persona == "member":  # the docs are pages for a browser's session
        assert [clients[persona].get(path).status_code for path in DOCS] == [200]


def test_the_setting_makes_the_schema_and_docs_public(clients, settings):
    settings.API_SCHEMA_PUBLIC = True

    assert [clients.anonymous.get(path).status_code for path in ["/api/schema/", *DOCS]] == [200, 200]


@pytest.mark.parametrize(
    ("environment", "public"),
    [
        ({"DEBUG": "0"}, "False"),
        ({"DEBUG": "1"}, "True"),
        ({"DEBUG": "0", "API_SCHEMA_PUBLIC": "1"}, "True"),
        ({"DEBUG": "1", "API_SCHEMA_PUBLIC": "0"}, "False"),
    ],
)
def test_the_schema_is_public_by_default_only_with_debug(environment, public):
    program = "import django; django.setup(); from django.conf import settings; print(settings.API_SCHEMA_PUBLIC)"
    inherited = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "API_SCHEMA_PUBLIC")}

    started = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={
            **inherited,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            **environment,
        },
        capture_output=True,
        text=True,
    )

    assert (started.returncode, started.stdout.strip()) == (0, public), started.stderr
