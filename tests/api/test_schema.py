"""The OpenAPI schema renders without a warning, validates, and the docs are served by the portal."""

import pytest
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


@pytest.mark.parametrize(
    ("path", "marker"), [("/api/schema/swagger/", b"swagger-ui"), ("/api/schema/redoc/", b"redoc")]
)
def test_swagger_ui_and_redoc_are_served_by_the_portal_without_a_cdn(db, client, path, marker):
    response = client.get(path)

    assert response.status_code == 200
    assert marker in response.content
    assert b"cdn." not in response.content
    assert b"unpkg" not in response.content
