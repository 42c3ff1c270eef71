"""The identity provider as the portal sees it: its discovery document, its refresh grant and its end-session page.

mozilla-django-oidc wants each endpoint as a setting; the portal reads them from the provider's discovery document
instead, fetched when first needed (never at start-up, so that an unreachable provider does not stop the portal or
`manage.py`), cached for OIDC_DISCOVERY_CACHE_SECONDS, and kept past that while the provider cannot be reached.
"""

import base64
import hashlib
import logging
import threading
import time
from urllib.parse import quote, urlencode

import requests
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.functional import lazy
from mozilla_django_oidc.utils import import_from_settings

logger = logging.getLogger(__name__)

#: The library's endpoint settings -> the discovery document's fields (OpenID Connect Discovery 1.0, section 3).
ENDPOINT_SETTINGS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
REQUIRED_FIELDS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")

_documents: dict[str, tuple[float, dict]] = {}
_documents_lock = threading.Lock()


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered something that is not OpenID Connect: nothing was decided."""


class ProviderRefused(Exception):
    """The provider answered that the person's grant is no longer good (deactivated, tokens revoked, consent gone)."""


def is_enabled() -> bool:
    return settings.OIDC_ENABLED


def provider_name() -> str:
    return settings.OIDC_PROVIDER_NAME


def sign_in_choices() -> dict:
    """What the sign-in page offers: the provider's button, the password form, or both."""
    enabled = is_enabled()
    return {
        "sso_enabled": enabled,
        "sso_name": provider_name(),
        "password_signin": not enabled or settings.OIDC_LOCAL_SIGNIN,
    }


def password_signin_allowed() -> bool:
    """OIDC_LOCAL_SIGNIN turns passwords off, on every sign-in form (the admin's too), once single sign-on is on."""
    return not is_enabled() or settings.OIDC_LOCAL_SIGNIN


def document() -> dict:
    """The discovery document, from the cache while it is younger than OIDC_DISCOVERY_CACHE_SECONDS."""
    url = settings.OIDC_DISCOVERY_URL
    cached = _documents.get(url)
    if cached and time.monotonic() - cached[0] < settings.OIDC_DISCOVERY_CACHE_SECONDS:
        return cached[1]
    with _documents_lock:
        try:
            fetched = _fetch(url)
        except ProviderUnavailable:
            if cached:
                logger.warning("sso.discovery_stale", extra={"url": url})
                return cached[1]
            raise
        _documents[url] = (time.monotonic(), fetched)
    return fetched


def forget_document() -> None:
    """Drop the cached documents (a test that starts a new provider, or an admin who changed the provider)."""
    _documents.clear()


def _fetch(url: str) -> dict:
    if not url:
        raise ProviderUnavailable("OIDC_ISSUER (or OIDC_DISCOVERY_URL) is not set.")
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        fetched = response.json()
    except (requests.RequestException, ValueError) as error:
        logger.warning("sso.discovery_failed", extra={"url": url, "error": str(error)})
        raise ProviderUnavailable(f"The identity provider's discovery document at {url} could not be read.") from error
    missing = [field for field in REQUIRED_FIELDS if not isinstance(fetched, dict) or not fetched.get(field)]
    if missing:
        raise ProviderUnavailable(f"The discovery document at {url} lacks {', '.join(missing)}.")
    # Discovery 1.0, section 4.3: the issuer in the document must be the one configured, or its tokens are not ours.
    if settings.OIDC_ISSUER and fetched["issuer"].rstrip("/") != settings.OIDC_ISSUER:
        raise ProviderUnavailable(
            f"The discovery document names the issuer {fetched['issuer']!r}, not OIDC_ISSUER {settings.OIDC_ISSUER!r}."
        )
    return fetched


def issuer() -> str:
    """The issuer exactly as the provider writes it in its tokens' `iss`."""
    return document()["issuer"]


def endpoint(field: str) -> str:
    value = document().get(field)
    if not value:
        raise ProviderUnavailable(f"The identity provider publishes no {field}.")
    return value


def library_setting(name: str, *default):
    """mozilla-django-oidc's `get_settings`: its endpoints as strings read from discovery when they are used.

    Lazy, because the library reads them when its views, backend and middleware are built, which would otherwise
    call the provider on every request (and fail every page while it is down).
    """
    if name in ENDPOINT_SETTINGS:
        return lazy(endpoint, str)(ENDPOINT_SETTINGS[name])
    return import_from_settings(name, *default)


def refresh(refresh_token: str) -> dict:
    """Ask the token endpoint for new tokens: the provider's answer whether the person is still allowed in.

    The client authenticates with HTTP Basic, which RFC 6749 (section 2.3.1) requires every provider to accept.
    """
    try:
        response = requests.post(
            endpoint("token_endpoint"),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(quote(settings.OIDC_RP_CLIENT_ID, safe=""), quote(settings.OIDC_RP_CLIENT_SECRET, safe="")),
            timeout=settings.OIDC_TIMEOUT,
        )
    except requests.RequestException as error:
        raise ProviderUnavailable("The identity provider's token endpoint could not be reached.") from error
    if response.status_code == 200:
        try:
            return response.json()
        except ValueError as error:
            raise ProviderUnavailable("The identity provider's token endpoint did not answer JSON.") from error
    try:
        error_code = response.json().get("error")
    except (ValueError, AttributeError):
        error_code = None
    # RFC 6749 section 5.2: invalid_grant is the person's grant gone (revoked, expired, deactivated); any other
    # error (invalid_client...) is the portal's configuration or the provider's trouble, not a verdict on the person.
    if error_code == "invalid_grant":
        raise ProviderRefused(response.text[:200])
    raise ProviderUnavailable(f"The identity provider's token endpoint answered {response.status_code} {error_code}.")


def end_session_url(id_token: str | None, return_to: str) -> str | None:
    """The provider's end-session page for this session (RP-Initiated Logout 1.0), if it publishes one."""
    target = document().get("end_session_endpoint")
    if not target:
        return None
    parameters = {"client_id": settings.OIDC_RP_CLIENT_ID, "post_logout_redirect_uri": return_to}
    if id_token:
        parameters["id_token_hint"] = id_token
    return f"{target}{'&' if '?' in target else '?'}{urlencode(parameters)}"


def _fernet() -> Fernet:
    digest = hashlib.sha256(f"accounts.provider.refresh-token:{settings.SECRET_KEY}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(token: str) -> str:
    """A refresh token as stored: encrypted, so that a copy of the database is not a key to the provider."""
    return _fernet().encrypt(token.encode()).decode() if token else ""


def unseal(sealed: str) -> str:
    """The stored refresh token, or "" if there is none or SECRET_KEY changed since (the person signs in again)."""
    if not sealed:
        return ""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return ""
