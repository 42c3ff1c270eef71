"""The authentication backend of a sign-in through the identity provider (mozilla-django-oidc's, adapted).

What the library does is kept: the code-for-token exchange, the signature check against the provider's published keys,
the nonce check. What the portal changes: endpoints come from discovery (accounts.provider), the ID token's audience and
issuer are checked too (the library turns the audience check off), people are matched by issuer and subject rather
than e-mail, and group mappings are applied at each sign-in (accounts.identities).
"""

import logging

import jwt
import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts import identities, provider

logger = logging.getLogger(__name__)

#: Clock difference allowed between the provider and the portal when checking a token's times.
CLOCK_LEEWAY_SECONDS = 30

#: Why a sign-in was refused, in words for the person (shown by accounts.sso_views.CallbackView).
UNVERIFIED = "The identity provider's answer could not be verified, so you were not signed in."
UNREACHABLE = "The identity provider could not be reached; try again in a few minutes."
DEACTIVATED = "{name} says your account is deactivated, so you were not signed in."


class ProviderBackend(OIDCAuthenticationBackend):
    """Signs in the person the provider vouches for on the callback; never answers a user name and password."""

    get_settings = staticmethod(provider.library_setting)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.token_info: dict = {}

    def authenticate(self, request, nonce=None, code_verifier=None, **credentials):
        if credentials or request is None or not provider.is_enabled():
            return None  # a password sign-in, or single sign-on is off
        try:
            return super().authenticate(request, nonce=nonce, code_verifier=code_verifier)
        except identities.SignInRefused:
            request.sso_refusal = DEACTIVATED.format(name=provider.provider_name())
        except provider.ProviderUnavailable as error:
            logger.warning("sso.unavailable", extra={"error": str(error)})
            request.sso_refusal = UNREACHABLE
        except (SuspiciousOperation, requests.RequestException, IntegrityError) as error:
            logger.warning("sso.unverified", extra={"error": str(error)})
            request.sso_refusal = UNVERIFIED
        return None

    def get_user(self, user_id):
        """A session made by this backend ends when single sign-on is turned off."""
        return super().get_user(user_id) if provider.is_enabled() else None

    def get_token(self, payload: dict) -> dict:
        self.token_info = super().get_token(payload)
        return self.token_info

    def get_payload_data(self, token, key) -> dict:
        """The ID token's claims, once PyJWT has checked its signature, expiry, audience and issuer.

        The library's own check (`_verify_jws`) passes `verify_aud: False` and lets an expired token's error escape
        as a server error; here every refusal is a SuspiciousOperation, as the library's other refusals are.
        """
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as error:
            raise SuspiciousOperation(f"The ID token is not a JWT: {error}") from error
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"The ID token is signed with {algorithm!r}, not {self.OIDC_RP_SIGN_ALGO!r}.")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=settings.OIDC_RP_CLIENT_ID,
                issuer=provider.issuer(),
                leeway=CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise SuspiciousOperation(f"The ID token was refused: {error}") from error

    def get_userinfo(self, access_token, id_token, payload) -> dict:
        """The ID token's claims, completed by the userinfo endpoint where the provider has one."""
        claims = dict(payload)
        if provider.document().get("userinfo_endpoint"):
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload["sub"]:  # OpenID Connect Core 1.0, section 5.3.2
                raise SuspiciousOperation("The userinfo endpoint answered for another subject.")
            claims.update(userinfo)
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        identity = identities.sign_in(
            issuer=payload["iss"], claims=claims, refresh_token=self.token_info.get("refresh_token") or ""
        )
        return identity.user
