"""Who reads chargeback: finance (every cost center) and approvers; the page and the API agree."""

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from teams.models import is_approver, is_finance

MESSAGE = "Chargeback is for the finance group and approvers."


def can_read_chargeback(user) -> bool:
    return is_finance(user) or is_approver(user)


def require_chargeback_reader(user) -> None:
    if not can_read_chargeback(user):
        raise PermissionDenied(MESSAGE)


class CanReadChargeback(BasePermission):
    message = MESSAGE

    def has_permission(self, request, view) -> bool:
        return can_read_chargeback(request.user)
