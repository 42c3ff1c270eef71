"""Browser sessions from the identity provider last as long as its ID token (mozilla-django-oidc's SessionRefresh).

When the token expires, the next page load goes back to the provider with `prompt=none`: a person it still accepts
comes straight back with a new token (and their groups applied again); one it no longer accepts is signed out.
"""

import logging
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from mozilla_django_oidc.middleware import SessionRefresh

from accounts import provider
from accounts.backends import UNREACHABLE
from accounts.sso_views import failure_page

logger = logging.getLogger(__name__)


class ProviderSessionRefresh(SessionRefresh):
    """Does nothing while single sign-on is off, and for sessions signed in with a password."""

    get_settings = staticmethod(provider.library_setting)

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        return provider.is_enabled() and super().is_refreshable_url(request)

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        try:
            response = super().process_request(request)
        except provider.ProviderUnavailable as error:
            logger.warning("sso.unavailable", extra={"error": str(error)})
            return failure_page(request, UNREACHABLE, status=503)
        if response is not None and response.status_code == 302 and getattr(request, "htmx", False):
            return self._htmx_redirect(request, response)
        return response

    def _htmx_redirect(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """An htmx request (a poll, a fragment) cannot follow a redirect to another site: the whole page goes instead,
        and comes back to the page rather than to the fragment's address."""
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        if current.netloc == request.get_host() and current.path.startswith("/"):
            request.session["oidc_login_next"] = current.path + (f"?{current.query}" if current.query else "")
        else:
            request.session["oidc_login_next"] = "/"
        return HttpResponse(status=204, headers={"HX-Redirect": response["Location"]})
