"""Errors look like the portal and lead back to it; the 500 page needs no database."""

import pytest
from django.contrib.staticfiles import finders
from django.test import RequestFactory
from django.views.defaults import server_error


@pytest.fixture
def production_errors(settings) -> None:
    settings.DEBUG = False


def test_a_page_that_does_not_exist_is_a_styled_404_with_a_way_back(client, world, production_errors):
    client.force_login(world.research_member)

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert [t.name for t in response.templates][:2] == ["404.html", "error.html"]
    content = response.content.decode()
    assert '<h1 id="error-title">Not found</h1>' in content
    assert '<a href="/">Back to the dashboard</a>' in content
    assert "research-member" in content  # the header of every page, signed in


def test_an_action_a_member_may_not_take_is_a_styled_403_that_says_why(client, world, production_errors):
    client.force_login(world.research_member)

    response = client.get("/queue/")

    assert response.status_code == 403
    content = response.content.decode()
    assert '<h1 id="error-title">Not allowed</h1>' in content
    assert "Only platform admins in the approvers group can do this." in content
    assert '<a href="/">Back to the dashboard</a>' in content


def test_the_500_page_renders_without_the_database():
    # No db fixture: pytest-django makes any query in this test raise.
    response = server_error(RequestFactory().get("/teams/"))

    assert response.status_code == 500
    content = response.content.decode()
    assert '<h1 id="error-title">Something went wrong</h1>' in content
    assert '<a href="/">Back to the dashboard</a>' in content


def test_favicon_is_served_from_the_static_files(client):
    response = client.get("/favicon.ico")

    assert (response.status_code, response["Location"]) == (301, "/static/portal/favicon.svg")
    assert finders.find("portal/favicon.svg") is not None
