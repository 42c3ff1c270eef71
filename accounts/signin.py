"""Sign-in throttling (django-axes, configured in settings): who a failed sign-in is counted against.

API tokens are not signed in with a password and keep their own throttle (accounts/throttling.py).
"""

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.provider import password_signin_allowed


class SignInThrottleBackend(AxesStandaloneBackend):
    """Refuses a sign-in while its user name or address is locked, or any password once single sign-on turned
    passwords off (OIDC_LOCAL_SIGNIN); lets the next backend check the password.

    A sign-in without a request (a script or a test calling `authenticate()` directly) comes from no address
    on the network, so there is nothing to throttle: it goes on to the password check, where axes would
    otherwise raise.
    """

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs
    ):
        if request is None:
            return None
        if password is not None and not password_signin_allowed():
            raise PermissionDenied("Password sign-in is turned off: sign in through the identity provider.")
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_address(request: HttpRequest) -> str | None:
    """The address a sign-in came from: REMOTE_ADDR, or behind a trusted TLS proxy the one it forwarded.

    The proxy appends the address it saw to X-Forwarded-For, so only the last entry is the proxy's word;
    anything before it the client could have written.
    """
    if settings.TRUST_PROXY_HEADERS:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded[-1]:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR")


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The lockout page in the portal's layout: 429, and how long the lock lasts in whole minutes."""
    cool_off = get_cool_off(request)
    context = {
        "username": get_client_username(request, credentials) or "",
        "minutes": -(-int(cool_off.total_seconds()) // 60) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)
