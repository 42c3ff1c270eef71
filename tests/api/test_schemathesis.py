"""Property-based: every operation of the schema, fed generated input, never answers 5xx nor off-schema.

Schemathesis reads the schema the portal serves and calls the portal in-process (WSGI),
as a lead (who may submit) and as an approver (who may decide), with read-write tokens.
Examples are few per operation, to stay well under a minute.
"""

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actions import create_api_token
from tests.requests import ask_for_namespace

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def api_schema(world, settings):
    # Many calls a second from one token: lift its rate limit for this test only.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "100000/min"}}
    cache.clear()
    ask_for_namespace(world)
    # Like Django's test client: a request must not close the connection holding the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(world) -> dict[str, dict[str, str]]:
    headers = {}
    for persona in ("research_lead", "approver"):
        _, key = create_api_token(user=getattr(world, persona), name="fuzz", read_only=False, expires_at=None)
        headers[persona] = {"Authorization": f"Bearer {key}"}
    return headers


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# The dry-run asks the real API server about a request: it is covered against the cluster in
# test_permissions.py, and fuzzing it would only fuzz the network.
operations = schema.exclude(path_regex=r"/dry-run/$")


@operations.parametrize()
@FUZZ
def test_no_input_from_a_lead_makes_the_api_fail_or_leave_its_schema(case, tokens):
    case.call_and_validate(headers=tokens["research_lead"], checks=CHECKS)


@operations.parametrize()
@FUZZ
def test_no_input_from_an_approver_makes_the_api_fail_or_leave_its_schema(case, tokens):
    case.call_and_validate(headers=tokens["approver"], checks=CHECKS)
