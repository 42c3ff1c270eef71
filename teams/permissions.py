"""Who may see and do what on the pages; the API uses the same querysets and checks."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from teams.models import Membership, Request, Team, TeamNamespace, is_approver


def is_lead(user, team: Team) -> bool:
    return user.is_authenticated and Membership.objects.filter(user=user, team=team, role=Membership.Role.LEAD).exists()


def require_visible_team(user, team_id: int) -> None:
    if not Team.objects.visible_to(user).filter(pk=team_id).exists():
        raise PermissionDenied("This belongs to a team you are not a member of.")


def require_approver(user) -> None:
    if not is_approver(user):
        raise PermissionDenied("Only platform admins in the approvers group can do this.")


def visible_namespace(user, name: str) -> TeamNamespace:
    """The live namespace `name`; 404 when there is none, 403 when it is another team's."""
    namespace = get_object_or_404(TeamNamespace.objects.live().select_related("team__cost_center", "tier"), name=name)
    require_visible_team(user, namespace.team_id)
    return namespace


def visible_request(user, pk: int) -> Request:
    request = get_object_or_404(
        Request.objects.select_related("team__cost_center", "namespace__tier", "requested_by", "reviewed_by"), pk=pk
    )
    require_visible_team(user, request.team_id)
    return request
