"""The OpenAPI schema renders without a warning, validates, and the docs are served by the portal."""

import yaml
from django.core.management import call_command


def test_the_schema_renders_and_validates_without_warnings(db, tmp_path):
    path = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))

    schema = yaml.safe_load(path.read_text())
    assert schema["openapi"] == "3.0.3"
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from the profile page (/profile/), sent as `Bearer gqp_...`.",
    }


def test_every_custom_action_is_documented(db, client):
    schema = yaml.safe_load(client.get("/api/schema/").content)

    for action in ("approve", "reject", "cancel", "retry", "dry-run"):
        operation = schema["paths"][f"/api/v1/requests/{{id}}/{action}/"]["post"]
        assert operation["description"], action
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert operation["responses"]["409"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }


def test_swagger_ui_is_served_by_the_portal_without_a_cdn_or_the_online_validator(db, client):
    page = client.get("/api/schema/swagger/")
    script = client.get("/api/schema/swagger/?script=").content.decode()

    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    assert b"cdn." not in page.content
    assert b"unpkg" not in page.content
    assert '"validatorUrl": null' in script


def test_there_is_no_redoc_page(db, client):
    """ReDoc always fetches Redocly's logo from its CDN: the portal serves Swagger UI alone."""
    assert client.get("/api/schema/redoc/").status_code == 404
