"""Repeated failed sign-ins lock the user name and the address for a while (django-axes), shown on a page."""

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.actions import create_api_token

LOGIN = "/accounts/login/"
LOCKED = "Too many failed sign-ins for research-lead or from your address: signing in is locked for 15 minutes."


@pytest.fixture(autouse=True)
def three_failures_lock(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def sign_in(username: str, password: str, address: str) -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=address)
    return client, client.post(LOGIN, {"username": username, "password": password})


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_three_failures_lock_the_account_and_then_the_right_password_is_refused(world):
    for _ in range(2):
        client, response = sign_in("research-lead", "wrong", "10.0.0.1")
        assert response.status_code == 200
        assert "Your user name and password did not match." in response.content.decode()

    client, third = sign_in("research-lead", "wrong", "10.0.0.1")
    assert third.status_code == 429

    client, response = sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.1")

    assert response.status_code == 429
    page = response.content.decode()
    assert "<h1>Sign-in locked</h1>" in page
    assert LOCKED in page
    assert '<link rel="stylesheet" href="/static/portal/portal.css">' in page
    assert not is_signed_in(client)


def test_the_locked_account_is_locked_from_any_address(world):
    for _ in range(3):
        sign_in("research-lead", "wrong", "10.0.0.1")

    client, response = sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.9")

    assert response.status_code == 429
    assert not is_signed_in(client)


def test_another_account_from_another_address_still_signs_in(world):
    for _ in range(3):
        sign_in("research-lead", "wrong", "10.0.0.1")

    client, response = sign_in("platform-lead", django_settings.DEMO_PASSWORD, "10.0.0.2")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_signed_in(client)


def test_failures_for_many_accounts_from_one_address_lock_that_address(world):
    for username in ("research-lead", "platform-lead", "finance"):
        sign_in(username, "wrong", "10.0.0.3")

    locked_client, locked = sign_in("approver", django_settings.DEMO_PASSWORD, "10.0.0.3")
    elsewhere_client, elsewhere = sign_in("approver", django_settings.DEMO_PASSWORD, "10.0.0.4")

    assert locked.status_code == 429
    assert not is_signed_in(locked_client)
    assert elsewhere.status_code == 302
    assert is_signed_in(elsewhere_client)


def test_the_lock_ends_after_the_cool_off(world, settings):
    for _ in range(3):
        sign_in("research-lead", "wrong", "10.0.0.1")
    assert sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.1")[1].status_code == 429

    settings.AXES_COOLOFF_TIME = timedelta(milliseconds=50)
    time.sleep(0.1)
    client, response = sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.1")

    assert response.status_code == 302
    assert is_signed_in(client)


def test_a_successful_sign_in_forgets_earlier_failures(world):
    for _ in range(2):
        sign_in("research-lead", "wrong", "10.0.0.1")
    assert sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.1")[1].status_code == 302

    for _ in range(2):
        sign_in("research-lead", "wrong", "10.0.0.1")
    client, response = sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.1")

    assert response.status_code == 302
    assert is_signed_in(client)


def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(world, settings):
    settings.TRUST_PROXY_HEADERS = True
    for _ in range(3):
        Client(REMOTE_ADDR="10.9.9.9").post(
            LOGIN, {"username": "nobody", "password": "wrong"}, HTTP_X_FORWARDED_FOR="1.2.3.4, 192.0.2.7"
        )

    assert list(AccessAttempt.objects.values_list("ip_address", "failures_since_start")) == [("192.0.2.7", 3)]
    other = Client(REMOTE_ADDR="10.9.9.9")
    response = other.post(
        LOGIN,
        {"username": "finance", "password": django_settings.DEMO_PASSWORD},
        HTTP_X_FORWARDED_FOR="192.0.2.8",
    )
    assert response.status_code == 302


def test_admins_see_the_attempts_and_the_lock(world, client):
    for _ in range(3):
        sign_in("research-lead", "wrong", "10.0.0.1")
    admin = get_user_model().objects.create_superuser("root", password="x")
    client.force_login(admin)

    response = client.get("/admin/axes/accessattempt/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<td class="field-ip_address">10.0.0.1</td>' in page
    assert '<td class="field-username">research-lead</td>' in page
    assert '<td class="field-failures_since_start">3</td>' in page
    assert '<td class="field-status">Locked Out</td>' in page


def test_api_tokens_keep_their_own_throttle_and_never_lock_a_sign_in(world, settings):
    """A wrong bearer token is a 401 of the API; only passwords count towards the sign-in lock."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "2/min"}}
    cache.clear()
    _, key = create_api_token(user=world.research_lead, name="ci", read_only=True, expires_at=None)
    api = APIClient(REMOTE_ADDR="10.0.0.5")

    wrong = [
        api.get("/api/v1/tiers/", HTTP_AUTHORIZATION=f"Bearer {key[:-1]}{'A' if key[-1] != 'A' else 'B'}").status_code
        for _ in range(5)
    ]
    right = [api.get("/api/v1/tiers/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code for _ in range(3)]
    client, response = sign_in("research-lead", django_settings.DEMO_PASSWORD, "10.0.0.5")

    assert wrong == [401] * 5
    assert right == [200, 200, 429]
    assert AccessAttempt.objects.count() == 0
    assert response.status_code == 302
    assert is_signed_in(client)
    cache.clear()
