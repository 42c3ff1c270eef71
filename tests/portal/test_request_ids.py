"""Every web request has a request id: in its response, and in every line logged while serving it."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.urls import reverse

from portal.logs import ContextFilter, JsonFormatter
from tests.requests import ask_for_namespace

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger's lines as production writes them (LOG_FORMAT=json)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_id_is_made_up_when_none_is_sent_and_returned(client):
    first = client.get(reverse("login"))
    second = client.get(reverse("login"))

    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize("sent", ["a b", "x" * 129, "id\nforged=1", '"quoted"'])
def test_an_incoming_request_id_that_is_not_a_plain_token_is_replaced(client, sent):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID=sent)

    assert response["X-Request-ID"] != sent
    assert len(response["X-Request-ID"]) == 32


def test_lines_logged_while_serving_carry_the_request_id_and_the_user(world, client, json_log):
    request = ask_for_namespace(world)
    client.force_login(world.approver)

    response = client.post(reverse("request-approve", args=[request.pk]), HTTP_X_REQUEST_ID="lb-7f3a.1")
    missing = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lb-7f3a.2")
    logging.getLogger("tests").info("after.requests")

    logged = {line["message"]: line for line in lines(json_log)}
    assert (response["X-Request-ID"], missing["X-Request-ID"]) == ("lb-7f3a.1", "lb-7f3a.2")
    approved = logged["request.approved"]
    assert (approved["request_id"], approved["user"], approved["portal_request_id"]) == (
        "lb-7f3a.1",
        "approver",
        request.pk,
    )
    assert (approved["level"], approved["logger"]) == ("INFO", "teams.workflow")
    assert logged["Not Found: /no-such-page/"]["request_id"] == "lb-7f3a.2"
    assert "request_id" not in logged["after.requests"]
    assert "user" not in logged["after.requests"]


def test_an_anonymous_visitor_has_no_user_field(client, json_log):
    client.get("/no-such-page/", HTTP_X_REQUEST_ID="anon-1")

    (line,) = [line for line in lines(json_log) if line.get("request_id") == "anon-1"]
    assert "user" not in line
