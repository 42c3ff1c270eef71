"""Signing in and out: the sign-in page, the round trip through the identity provider, and the page for people whose
provider groups grant nothing yet.

mozilla-django-oidc's views, adapted: every failure is a page that says what happened (never a redirect to a page
that cannot tell, nor a server error), the session lasts as long as the provider's ID token, and signing out ends the
provider's session too where it publishes an end-session endpoint.
"""

import logging

import jwt
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import provider
from accounts.backends import UNREACHABLE, UNVERIFIED
from accounts.models import ProviderIdentity
from teams import roles

logger = logging.getLogger(__name__)

#: The session's copy of the ID token (mozilla-django-oidc's OIDC_STORE_ID_TOKEN), and its expiry for SessionRefresh.
ID_TOKEN_SESSION = "oidc_id_token"
EXPIRY_SESSION = "oidc_id_token_expiration"
PASSWORD_SIGNIN_OFF = "Signing in with a password is turned off here: sign in with {name}."


class SignInPageView(auth_views.LoginView):
    """Django's sign-in page, offering "Sign in with <provider>" when single sign-on is on."""

    def get_context_data(self, **kwargs) -> dict:
        return {**super().get_context_data(**kwargs), **provider.sign_in_choices()}

    def post(self, request, *args, **kwargs) -> HttpResponse:
        if not provider.password_signin_allowed():
            context = {**self.get_context_data(), "refusal": PASSWORD_SIGNIN_OFF.format(name=provider.provider_name())}
            return render(request, self.template_name, context, status=403)
        return super().post(request, *args, **kwargs)


class SignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's sign-in page, with state, nonce and PKCE kept in the session."""

    get_settings = staticmethod(provider.library_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.is_enabled():
            raise Http404("Single sign-on is turned off.")
        try:
            return super().get(request)
        except provider.ProviderUnavailable as error:
            logger.warning("sso.unavailable", extra={"error": str(error)})
            return failure_page(request, UNREACHABLE, status=503)


class CallbackView(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back: the backend checks its answer and signs the person in."""

    get_settings = staticmethod(provider.library_setting)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not provider.is_enabled():
            raise Http404("Single sign-on is turned off.")
        try:
            return super().get(request)
        except SuspiciousOperation as error:  # a state this browser never started, or one already used
            logger.warning("sso.unknown_state", extra={"error": str(error)})
            return failure_page(
                request, "This sign-in was already used or was started in another browser; start again.", status=400
            )

    def login_failure(self) -> HttpResponse:
        error = self.request.GET.get("error")
        if error:
            reason = f"{provider.provider_name()} did not sign you in ({error[:100]})."
        else:
            reason = getattr(self.request, "sso_refusal", UNVERIFIED)
        return failure_page(self.request, reason, status=403)

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        # The library renews a session after a fixed OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS; the provider's ID token may
        # expire sooner, and then so does the session.
        id_token = self.request.session.get(ID_TOKEN_SESSION)
        if id_token:
            expires = jwt.decode(id_token, options={"verify_signature": False}).get("exp")  # verified by the backend
            if isinstance(expires, int | float):
                self.request.session[EXPIRY_SESSION] = min(self.request.session[EXPIRY_SESSION], expires)
        if not roles.holds_any_role(self.user):
            return redirect("no-access")
        return response


class SignOutView(auth_views.LogoutView):
    """Signs out of the portal, then, for a session from the provider, out of the provider where it supports it."""

    def post(self, request, *args, **kwargs) -> HttpResponse:
        id_token = request.session.get(ID_TOKEN_SESSION)  # only a session signed in through the provider has one
        response = super().post(request, *args, **kwargs)
        if not (id_token and provider.is_enabled()):
            return response
        try:
            target = provider.end_session_url(id_token, request.build_absolute_uri(reverse(settings.LOGIN_URL)))
        except provider.ProviderUnavailable:
            return response  # signed out of the portal; the provider's session ends on its own
        return HttpResponseRedirect(target) if target else response


@never_cache
@login_required
def no_access(request: HttpRequest) -> HttpResponse:
    """For someone signed in whose provider groups grant nothing yet: what the portal saw, and whom to ask."""
    identity = ProviderIdentity.objects.visible_to(request.user).first()
    admins = roles.platform_admins().order_by("last_name", "first_name", "username")
    context = {
        "groups": identity.groups if identity else [],
        "admins": admins,
        "holds_any_role": roles.holds_any_role(request.user),
    }
    return render(request, "registration/no_access.html", context)


def failure_page(request: HttpRequest, reason: str, *, status: int) -> HttpResponse:
    context = {"reason": reason, **provider.sign_in_choices()}
    return render(request, "registration/sso_failed.html", context, status=status)
