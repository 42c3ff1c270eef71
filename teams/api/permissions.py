"""The roles module's rules as DRF permissions, for endpoints that are not scoped by a queryset."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from teams import roles


class CanReadChargeback(BasePermission):
    message = roles.CHARGEBACK_READERS_ONLY

    def has_permission(self, request, view) -> bool:
        return roles.can_read_chargeback(request.user)


class CanSeeApiSchema(BasePermission):
    """The OpenAPI schema: signed-in users, or everyone with API_SCHEMA_PUBLIC."""

    def has_permission(self, request, view) -> bool:
        return roles.can_see_api_schema(request.user)


class ApproversWrite(BasePermission):
    """Only approvers change what the endpoint holds; reading is scoped by the queryset's visible_to."""

    message = roles.APPROVERS_ONLY

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or roles.can_decide(request.user)
