"""Single sign-on against a real OpenID provider run by the test (tests/oidc_provider.py): accounts found by issuer
and subject, group mappings applied at each sign-in, forged ID tokens refused, deactivation stopping API tokens.

The browser's part of each round trip (following redirects, submitting the provider's page) is done by hand here,
with the test client on the portal's side and HTTP on the provider's; tests/e2e/test_single_sign_on.py does it in
Chromium.
"""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actions import create_api_token
from accounts.models import GroupMapping, ProviderIdentity
from teams.constants import FINANCE_GROUP
from teams.events import SYSTEM_USERNAME
from teams.models import AuditEvent, Membership
from teams.roles import Role, is_approver, is_finance
from tests.oidc_provider import CLIENT_ID, claims_of, now, query_of

User = get_user_model()
UNVERIFIED = "The identity provider&#x27;s answer could not be verified, so you were not signed in."


def sign_in_through_provider(client: Client, provider, subject: str):
    """The browser's round trip: the portal's redirect, the provider's page submitted as `subject`, the callback."""
    start = client.get("/oidc/authenticate/")
    assert start.status_code == 302, start.content
    callback = urlsplit(provider.authorize(start["Location"], subject))
    return client.get(f"{callback.path}?{callback.query}")


def signed_in_user(client: Client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def memberships(user) -> set[tuple[str, str, str]]:
    return set(user.memberships.values_list("team__slug", "role", "source"))


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def research_leads(world) -> GroupMapping:
    return GroupMapping.objects.create(provider_group="gpu-research-leads", role=Role.LEAD, team=world.research)


def test_a_first_sign_in_creates_the_account_by_subject_and_grants_the_mapped_role(sso, research_leads, client):
    sso.set_user("sub-alice", email="alice@example.com", preferred_username="alice", groups=["gpu-research-leads"])
    seeded = AuditEvent.objects.order_by("pk").last().pk

    response = sign_in_through_provider(client, sso, "sub-alice")

    assert (response.status_code, response["Location"]) == (302, "/")
    alice = signed_in_user(client)
    assert (alice.username, alice.email) == ("alice", "alice@example.com")
    identity = alice.provider_identity
    assert (identity.issuer, identity.subject, identity.groups) == (sso.issuer, "sub-alice", ["gpu-research-leads"])
    assert memberships(alice) == {("research", "lead", "provider")}
    events = AuditEvent.objects.filter(pk__gt=seeded).order_by("pk")
    assert [(event.verb, event.target, event.actor.username) for event in events] == [
        ("user.created", "user:alice", SYSTEM_USERNAME),
        ("membership.created", f"membership:{alice.memberships.get().pk}", SYSTEM_USERNAME),
    ]
    assert events[1].after == {"user": "alice", "team": "research", "role": "lead", "source": "provider"}
    dashboard = client.get(reverse("dashboard"))
    assert "Ask for a namespace" in dashboard.content.decode()  # what a lead of research sees


def test_group_changes_between_sign_ins_add_and_remove_only_what_the_provider_granted(world, sso, client):
    """An admin's grant stays whatever the provider's groups say; the provider's own follow its groups."""
    mappings = {
        "research-leads": (Role.LEAD, world.research),
        "data-science": (Role.MEMBER, world.data_science),
        "platform-leads": (Role.LEAD, world.platform),
        "finops": (Role.FINANCE, None),
        "gpu-admins": (Role.APPROVER, None),
    }
    for group, (role, team) in mappings.items():
        GroupMapping.objects.create(provider_group=group, role=role, team=team)
    sso.set_user("sub-bob", preferred_username="bob", groups=[])
    sign_in_through_provider(client, sso, "sub-bob")
    bob = signed_in_user(client)
    Membership.objects.create(user=bob, team=world.platform, role=Role.MEMBER)  # by hand, in the admin

    sso.set_user("sub-bob", preferred_username="bob", groups=list(mappings))
    sign_in_through_provider(client, sso, "sub-bob")

    bob = User.objects.get(pk=bob.pk)
    assert memberships(bob) == {
        ("research", "lead", "provider"),
        ("data-science", "member", "provider"),
        ("platform", "member", "admin"),  # the provider's "lead" does not replace an admin's grant
    }
    assert (is_approver(bob), is_finance(bob), bob.is_staff) == (True, True, True)

    sso.set_user("sub-bob", preferred_username="bob", groups=["data-science"])
    client.logout()
    sign_in_through_provider(client, sso, "sub-bob")

    bob = User.objects.get(pk=bob.pk)
    assert memberships(bob) == {("data-science", "member", "provider"), ("platform", "member", "admin")}
    assert list(bob.groups.all()) == []
    assert (is_approver(bob), is_finance(bob), bob.is_staff) == (False, False, False)
    on_bob = AuditEvent.objects.filter(target="user:bob").order_by("pk")
    assert [(event.verb, event.after.get("role")) for event in on_bob] == [
        ("user.created", None),
        ("role.granted", "approver"),
        ("role.granted", "finance"),
        ("user.changed", None),
        ("role.revoked", "approver"),
        ("role.revoked", "finance"),
        ("user.changed", None),
    ]
    on_memberships = AuditEvent.objects.filter(verb__startswith="membership.").order_by("pk")
    assert [(event.verb, event.actor.username) for event in on_memberships] == [
        ("membership.created", SYSTEM_USERNAME),
        ("membership.created", SYSTEM_USERNAME),
        ("membership.deleted", SYSTEM_USERNAME),
    ]
    assert on_memberships[2].before["team"] == "research"


def test_a_platform_role_an_admin_granted_by_hand_stays_when_the_provider_stops_sending_it(world, sso, client):
    GroupMapping.objects.create(provider_group="finops", role=Role.FINANCE)
    sso.set_user("sub-carol", preferred_username="carol", groups=[])
    sign_in_through_provider(client, sso, "sub-carol")
    carol = signed_in_user(client)
    carol.groups.add(Group.objects.get(name=FINANCE_GROUP))  # by hand, in the admin

    sso.set_user("sub-carol", preferred_username="carol", groups=["finops"])
    client.logout()
    sign_in_through_provider(client, sso, "sub-carol")
    sso.set_user("sub-carol", preferred_username="carol", groups=[])
    client.logout()
    sign_in_through_provider(client, sso, "sub-carol")

    assert list(carol.groups.values_list("name", flat=True)) == [FINANCE_GROUP]
    assert not AuditEvent.objects.filter(verb__startswith="role.").exists()


def test_an_email_change_at_the_provider_keeps_the_account(sso, research_leads, client):
    sso.set_user("sub-dave", email="dave@old.example", preferred_username="dave", groups=["gpu-research-leads"])
    sign_in_through_provider(client, sso, "sub-dave")
    sso.set_user("sub-dave", email="dave@new.example", preferred_username="dave", groups=["gpu-research-leads"])
    client.logout()

    sign_in_through_provider(client, sso, "sub-dave")

    dave = signed_in_user(client)
    assert User.objects.filter(provider_identity__isnull=False).count() == 1
    assert (dave.username, dave.email, dave.provider_identity.email) == ("dave", "dave@new.example", "dave@new.example")


def test_another_subject_with_the_same_email_or_name_gets_an_account_of_its_own(world, sso, client):
    """Neither a local account nor another person at the provider is taken over by a matching e-mail or name."""
    world.research_lead.email = "shared@example.com"
    world.research_lead.save()
    sso.set_user("sub-erin", email="shared@example.com", preferred_username="erin")
    sign_in_through_provider(client, sso, "sub-erin")
    erin = signed_in_user(client)
    sso.set_user("sub-mallory", email="shared@example.com", preferred_username="research-lead")
    other = Client()

    sign_in_through_provider(other, sso, "sub-mallory")

    mallory = signed_in_user(other)
    assert len({world.research_lead.pk, erin.pk, mallory.pk}) == 3
    assert re.fullmatch(r"research-lead-[0-9a-f]{6}", mallory.username)
    assert memberships(mallory) == set()
    assert not ProviderIdentity.objects.filter(user=world.research_lead).exists()


def test_someone_whose_groups_map_to_nothing_is_signed_in_and_told_whom_to_ask(world, sso, research_leads, client):
    world.approver.email = "gpu-admins@example.com"
    world.approver.save()
    sso.set_user("sub-frank", preferred_username="frank", groups=["marketing"])

    response = sign_in_through_provider(client, sso, "sub-frank")
    page = client.get(response["Location"])

    assert (response.status_code, response["Location"]) == (302, "/profile/no-access/")
    assert signed_in_user(client).username == "frank"
    content = page.content.decode()
    assert page.status_code == 200
    assert "You are signed in, but hold no team or role yet" in content
    assert '<li class="mono">marketing</li>' in content
    assert '<a href="mailto:gpu-admins@example.com">gpu-admins@example.com</a>' in content


def _wrong_audience(provider):
    return lambda real: provider.sign({**claims_of(real), "aud": "another-client"})


def _expired(provider):
    return lambda real: provider.sign({**claims_of(real), "iat": now() - 7200, "exp": now() - 3600})


def _bad_signature(provider):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return lambda real: provider.sign(claims_of(real), key=stranger)


@pytest.mark.parametrize("forgery", [_wrong_audience, _expired, _bad_signature])
def test_an_id_token_with_a_wrong_audience_an_expiry_past_or_a_bad_signature_is_refused(
    world, sso, research_leads, client, forgery
):
    sso.set_user("sub-gina", preferred_username="gina", groups=["gpu-research-leads"])
    sso.forge(forgery(sso))

    response = sign_in_through_provider(client, sso, "sub-gina")

    assert response.status_code == 403
    assert UNVERIFIED in response.content.decode()
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="gina").exists()


def test_the_same_claims_signed_again_with_the_providers_key_are_accepted(world, sso, research_leads, client):
    """The refusals above are the changed claim's doing: unchanged and signed again, the same token signs in."""
    sso.set_user("sub-gina", preferred_username="gina", groups=["gpu-research-leads"])
    sso.forge(lambda real: sso.sign(claims_of(real)))

    response = sign_in_through_provider(client, sso, "sub-gina")

    assert (response.status_code, response["Location"]) == (302, "/")
    assert signed_in_user(client).username == "gina"


def test_an_id_token_replayed_from_an_earlier_sign_in_fails_the_nonce_check(world, sso, research_leads, client):
    sso.set_user("sub-hank", preferred_username="hank", groups=["gpu-research-leads"])
    sign_in_through_provider(Client(), sso, "sub-hank")
    captured = sso.issued_id_tokens[-1]
    sso.forge(lambda real: captured)  # genuine, unexpired, ours: only its nonce belongs to another sign-in

    response = sign_in_through_provider(client, sso, "sub-hank")

    assert (claims_of(captured)["aud"], claims_of(captured)["exp"] > now()) == ([CLIENT_ID], True)
    assert response.status_code == 403
    assert UNVERIFIED in response.content.decode()
    assert signed_in_user(client) is None


def test_a_callback_address_used_again_signs_nobody_in(world, sso, client):
    """The state and nonce of a round trip are kept in the browser's session and used once."""
    sso.set_user("sub-ivy", preferred_username="ivy")
    start = client.get("/oidc/authenticate/")
    callback = urlsplit(sso.authorize(start["Location"], "sub-ivy"))
    address = f"{callback.path}?{callback.query}"
    client.get(address)
    elsewhere = Client()

    again = client.get(address)
    stolen = elsewhere.get(address)

    assert again.status_code == 400
    assert "This sign-in was already used or was started in another browser; start again." in again.content.decode()
    assert stolen.status_code == 403
    assert UNVERIFIED in stolen.content.decode()
    assert signed_in_user(elsewhere) is None


def test_someone_deactivated_at_the_provider_is_refused_and_their_api_tokens_stop_at_once(world, sso, client):
    sso.set_user("sub-judy", preferred_username="judy")
    sign_in_through_provider(client, sso, "sub-judy")
    judy = signed_in_user(client)
    _, key = create_api_token(user=judy, name="ci", read_only=True, expires_at=None)
    assert bearer(key).get("/api/v1/teams/").status_code == 200
    sso.set_user("sub-judy", preferred_username="judy", active=False)
    client.logout()

    refused = sign_in_through_provider(client, sso, "sub-judy")
    api = bearer(key).get("/api/v1/teams/")

    assert refused.status_code == 403
    assert "Example SSO says your account is deactivated, so you were not signed in." in refused.content.decode()
    assert signed_in_user(client) is None
    assert api.status_code == 401
    assert api.json()["detail"].startswith("Example SSO no longer accepts this account")
    assert AuditEvent.objects.filter(verb="user.refused_by_provider", target="user:judy").count() == 1

    sso.set_user("sub-judy", preferred_username="judy", active=True)
    sign_in_through_provider(client, sso, "sub-judy")
    assert bearer(key).get("/api/v1/teams/").status_code == 200


def test_api_tokens_ask_the_provider_again_once_its_word_is_old_and_stop_when_it_refuses(world, sso, client, settings):
    settings.OIDC_PROVIDER_CHECK_SECONDS = 600
    sso.set_user("sub-kim", preferred_username="kim")
    sign_in_through_provider(client, sso, "sub-kim")
    kim = signed_in_user(client)
    _, key = create_api_token(user=kim, name="ci", read_only=True, expires_at=None)
    identity = ProviderIdentity.objects.get(user=kim)
    long_ago = timezone.now() - timedelta(seconds=601)
    ProviderIdentity.objects.filter(pk=identity.pk).update(confirmed_at=long_ago)

    renewed = bearer(key).get("/api/v1/teams/")

    identity.refresh_from_db()
    assert renewed.status_code == 200, renewed.content
    assert identity.confirmed_at > long_ago
    assert identity.refused_at is None

    sso.revoke_tokens("sub-kim")
    ProviderIdentity.objects.filter(pk=identity.pk).update(confirmed_at=long_ago)
    refused = bearer(key).get("/api/v1/teams/")
    still = bearer(key).get("/api/v1/teams/")

    identity.refresh_from_db()
    assert (refused.status_code, still.status_code) == (401, 401)
    assert refused.json()["detail"].startswith("Example SSO no longer accepts this account")
    assert identity.refused_at is not None
    assert AuditEvent.objects.filter(verb="user.refused_by_provider", target="user:kim").count() == 1


def test_the_session_lasts_as_long_as_the_id_token_and_is_then_renewed_at_the_provider(world, sso, client, settings):
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 24 * 3600
    sso.set_user("sub-lee", preferred_username="lee")
    sign_in_through_provider(client, sso, "sub-lee")
    id_token_expiry = claims_of(sso.issued_id_tokens[-1])["exp"]
    assert client.session["oidc_id_token_expiration"] == id_token_expiry

    session = client.session
    session["oidc_id_token_expiration"] = now() - 1
    session.save()
    page = client.get("/requests/")

    assert page.status_code == 302
    assert page["Location"].startswith(f"{sso.issuer}/oauth2/authorize?")
    assert query_of(page["Location"])["prompt"] == "none"
    assert client.session["oidc_login_next"] == "/requests/"


def test_signing_out_ends_the_provider_session_too(world, sso, client):
    sso.set_user("sub-max", preferred_username="max")
    sign_in_through_provider(client, sso, "sub-max")
    id_token = client.session["oidc_id_token"]

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{sso.issuer}/oauth2/end_session?")
    assert query_of(response["Location"]) == {
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": "http://testserver/accounts/login/",
        "id_token_hint": id_token,
    }
    assert signed_in_user(client) is None


def test_a_password_account_signs_out_of_the_portal_only(world, sso, client):
    client.force_login(world.research_lead, backend="django.contrib.auth.backends.ModelBackend")

    response = client.post("/accounts/logout/")

    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")


def test_the_sign_in_page_offers_the_provider_and_can_turn_passwords_off(world, sso, settings):
    offered = Client().get("/accounts/login/").content.decode()
    settings.OIDC_LOCAL_SIGNIN = False
    only_provider = Client().get("/accounts/login/").content.decode()
    refused = Client().post("/accounts/login/", {"username": "research-lead", "password": settings.DEMO_PASSWORD})
    admin = Client().post("/admin/login/", {"username": "approver", "password": settings.DEMO_PASSWORD})

    assert 'href="/oidc/authenticate/">Sign in with Example SSO</a>' in offered
    assert 'name="password"' in offered
    assert "Sign in with Example SSO" in only_provider
    assert 'name="password"' not in only_provider
    assert refused.status_code == 403
    assert "Signing in with a password is turned off here: sign in with Example SSO." in refused.content.decode()
    assert "_auth_user_id" not in refused.client.session
    assert admin.status_code == 200  # the admin's form again, not signed in
    assert "_auth_user_id" not in admin.client.session


def test_single_sign_on_is_off_by_default(world, client):
    page = client.get("/accounts/login/").content.decode()

    assert "Sign in with" not in page
    assert 'name="password"' in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_an_unreachable_provider_is_a_page_that_says_so(world, sso, settings, client):
    settings.OIDC_DISCOVERY_URL = "http://127.0.0.1:9/.well-known/openid-configuration"

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503
    assert "The identity provider could not be reached; try again in a few minutes." in response.content.decode()
