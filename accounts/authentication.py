"""`Authorization: Bearer <token>` for the REST API, beside the browser's session."""

from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from accounts.identities import api_token_refusal
from accounts.models import ApiToken, prefix_of

#: last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiTokenAuthentication(BaseAuthentication):
    """A token that is unknown, revoked or expired is refused with 401, never ignored; so is the token of someone the
    identity provider no longer vouches for (accounts.identities)."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send the token as `Authorization: Bearer <token>`.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("The token is not valid.") from None
        prefix = prefix_of(key)
        tokens = ApiToken.objects.select_related("user", "user__provider_identity")
        token = tokens.filter(prefix=prefix).first() if prefix else None
        if token is None or not token.matches(key):
            raise AuthenticationFailed("The token is not valid.")
        if token.revoked_at is not None:
            raise AuthenticationFailed("The token was revoked.")
        if token.is_expired:
            raise AuthenticationFailed("The token has expired.")
        if not token.user.is_active:
            raise AuthenticationFailed("The token's user is inactive.")
        refusal = api_token_refusal(token.user)  # someone who signs in through the identity provider
        if refusal:
            raise AuthenticationFailed(refusal)
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'
