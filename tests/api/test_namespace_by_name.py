"""/api/v1/namespaces/<name>/: namespaces are fetched by the name people know them by (issue 11)."""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api(world):
    def as_user(user) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return as_user


def test_a_namespace_is_fetched_by_name(world, api):
    response = api(world.research_member).get("/api/v1/namespaces/ml-research/")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["name"]) == (world.namespace("ml-research").pk, "ml-research")


def test_its_id_keeps_working(world, api):
    namespace = world.namespace("ml-research")

    response = api(world.research_member).get(f"/api/v1/namespaces/{namespace.pk}/")

    assert (response.status_code, response.json()["name"]) == (200, "ml-research")


@pytest.mark.parametrize("address", ["ml-research", "ml-nowhere", "999999", "ML-Research", "-bad-", "9" * 19])
def test_another_teams_unknown_or_malformed_namespace_is_a_404(world, api, address):
    response = api(world.platform_lead).get(f"/api/v1/namespaces/{address}/")

    assert response.status_code == 404
