"""API tokens: created on the profile page and shown once, hashed at rest, read-only or not, revoked, expired."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actions import create_api_token
from accounts.models import ApiToken
from teams.models import AuditEvent

KEY = re.compile(r"gqp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_the_profile_page_creates_a_token_shows_it_once_and_stores_only_its_hash(world, client):
    client.force_login(world.finance)

    created = client.post(reverse("profile"), {"name": "monthly export", "access": "read", "lifetime": "30"})
    shown = client.get(created["Location"])
    again = client.get(reverse("profile"))

    assert (created.status_code, created["Location"]) == (302, "/profile/")
    keys = KEY.findall(shown.content.decode())
    assert len(keys) == 1
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.read_only) == (world.finance, "monthly export", True)
    assert token.key_hash == hashlib.sha256(keys[0].encode()).hexdigest()
    assert keys[0] not in {token.prefix, token.key_hash, token.name}
    assert keys[0].startswith(f"gqp_{token.prefix}_")
    assert timedelta(days=29, hours=23) < token.expires_at - timezone.now() <= timedelta(days=30)
    assert shown["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
    assert KEY.findall(again.content.decode()) == []
    assert f"gqp_{token.prefix}…" in again.content.decode()
    event = AuditEvent.objects.get(verb="token.created")
    assert (event.actor, event.target, event.after) == (
        world.finance,
        "user:finance",
        {
            "token": f"gqp_{token.prefix}",
            "name": "monthly export",
            "read_only": True,
            "expires_at": token.expires_at.isoformat(),
            "revoked": False,
        },
    )


def test_reloading_the_page_after_creating_a_token_creates_no_second_one(world, client):
    client.force_login(world.finance)
    data = {"name": "monthly export", "access": "read", "lifetime": "30"}

    created = client.post(reverse("profile"), data, follow=True)
    reloaded = client.get(reverse("profile"))

    assert created.redirect_chain == [("/profile/", 302)]
    assert len(KEY.findall(created.content.decode())) == 1
    assert "Copy your new token now" not in reloaded.content.decode()
    assert ApiToken.objects.filter(user=world.finance).count() == 1
    assert AuditEvent.objects.filter(verb="token.created").count() == 1


def test_revoking_a_token_asks_first(world, client):
    token, _ = create_api_token(user=world.finance, name="ci", read_only=True, expires_at=None)
    client.force_login(world.finance)

    profile = client.get(reverse("profile")).content.decode()
    confirm = client.get(reverse("token-revoke", args=[token.pk]))

    assert f'<a class="button danger" href="/profile/tokens/{token.pk}/revoke/">Revoke' in profile
    assert confirm.status_code == 200
    assert f"<title>Revoke token {token.display_prefix}…" in confirm.content.decode()
    assert "Revoke the token</button>" in confirm.content.decode()
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert not AuditEvent.objects.filter(verb="token.revoked").exists()


def test_a_token_without_a_name_is_not_created(world, client):
    client.force_login(world.finance)

    response = client.post(reverse("profile"), {"name": "  ", "access": "write", "lifetime": "0"})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert ApiToken.objects.count() == 0


def test_the_profile_page_needs_a_sign_in(db, client):
    response = client.get(reverse("profile"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/profile/"


def test_a_token_acts_as_its_user_and_records_its_last_use(world):
    token, key = create_api_token(user=world.research_member, name="ci", read_only=True, expires_at=None)

    response = bearer(key).get("/api/v1/teams/")

    assert response.status_code == 200
    assert [team["slug"] for team in response.json()["results"]] == ["research"]
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer gqp_000000000000_" + "x" * 43, "The token is not valid."),
        ("Bearer not-a-token", "The token is not valid."),
        ("Bearer", "Send the token as `Authorization: Bearer <token>`."),
        ("Bearer two parts", "Send the token as `Authorization: Bearer <token>`."),
    ],
)
def test_an_unknown_or_malformed_token_is_a_401(db, header, detail):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json() == {"status": 401, "code": "authentication_failed", "detail": detail, "fields": {}}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_wrong_secret_with_a_real_prefix_is_a_401(world):
    _, key = create_api_token(user=world.finance, name="ci", read_only=True, expires_at=None)

    response = bearer(key[:-1] + ("A" if key[-1] != "A" else "B")).get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json()["detail"] == "The token is not valid."


def test_an_expired_token_is_a_401(world):
    _, key = create_api_token(
        user=world.finance, name="old", read_only=True, expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = bearer(key).get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."


def test_a_revoked_token_is_a_401_from_the_next_request_on(world, client):
    token, key = create_api_token(user=world.finance, name="ci", read_only=True, expires_at=None)
    assert bearer(key).get("/api/v1/teams/").status_code == 200
    client.force_login(world.finance)

    revoked = client.post(reverse("token-revoke", args=[token.pk]))
    response = bearer(key).get("/api/v1/teams/")

    assert revoked.status_code == 302
    assert response.status_code == 401
    assert response.json()["detail"] == "The token was revoked."
    assert AuditEvent.objects.filter(verb="token.revoked", actor=world.finance).count() == 1


def test_nobody_revokes_another_persons_token(world, client):
    token, _ = create_api_token(user=world.finance, name="ci", read_only=True, expires_at=None)
    client.force_login(world.approver)

    response = client.post(reverse("token-revoke", args=[token.pk]))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_read_only_token_reads_but_never_writes(world):
    _, key = create_api_token(user=world.research_lead, name="ro", read_only=True, expires_at=None)
    request = {
        "kind": "delete_namespace",
        "team": "research",
        "namespace": "ml-research",
        "proposed_spec": {},
        "justification": "Done with it.",
    }

    read = bearer(key).get("/api/v1/requests/")
    write = bearer(key).post("/api/v1/requests/", request, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["detail"] == (
        "This API token is read-only; create a read-write token on your profile page to change anything."
    )


def test_a_read_write_token_writes_as_its_user(world):
    _, key = create_api_token(user=world.research_lead, name="rw", read_only=False, expires_at=None)
    request = {
        "kind": "delete_namespace",
        "team": "research",
        "namespace": "ml-research",
        "proposed_spec": {},
        "justification": "Done with it.",
    }

    response = bearer(key).post("/api/v1/requests/", request, format="json")

    assert response.status_code == 201
    assert response.json()["requested_by"] == "research-lead"


def test_each_token_has_its_own_rate_and_sessions_have_none(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_token": "2/min"}}
    cache.clear()
    _, first = create_api_token(user=world.finance, name="a", read_only=True, expires_at=None)
    _, second = create_api_token(user=world.finance, name="b", read_only=True, expires_at=None)
    session = APIClient()
    session.force_login(world.finance)

    codes = [bearer(first).get("/api/v1/tiers/").status_code for _ in range(3)]
    other = bearer(second).get("/api/v1/tiers/")
    sessions = [session.get("/api/v1/tiers/").status_code for _ in range(3)]
    limited = bearer(first).get("/api/v1/tiers/")

    assert codes == [200, 200, 429]
    assert other.status_code == 200
    assert sessions == [200, 200, 200]
    assert limited.json()["code"] == "throttled"
    assert 0 < int(limited["Retry-After"]) <= 60
    cache.clear()
