"""What a token may do beyond its user's own permissions."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiToken


class TokenScopePermission(BasePermission):
    """A read-only token reads; it never changes anything, whoever its user is."""

    message = "This API token is read-only; create a read-write token on your profile page to change anything."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if isinstance(token, ApiToken) and token.read_only:
            return request.method in SAFE_METHODS
        return True
