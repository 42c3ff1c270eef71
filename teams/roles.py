"""Who is a team lead, member, approver or finance, and what each may see and do.

The one home of these rules. Pages, the API, the workflow and every queryset's
`visible_to(user)` ask here rather than looking at groups or memberships themselves.

- A team role (lead, member) is held in one team: a `Membership` row.
- A platform role (approver, finance) is held across the portal: a Django group, mapped
  in GROUP_ROLES. Single sign-on maps identity-provider groups onto the same roles here
  (accounts.group_mapping), through the grant and revoke functions at the end; each grant
  has a Source, so that a sign-in takes back only what the provider gave.

Seeing is separate from doing: a user who may not see an object is told it does not
exist (404); one who sees it but may not act on it is refused (403).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q

from teams.constants import APPROVERS_GROUP, FINANCE_GROUP, SYSTEM_USERNAME


class Role(models.TextChoices):
    LEAD = "lead", "Team lead"
    MEMBER = "member", "Member"
    APPROVER = "approver", "Approver"
    FINANCE = "finance", "Finance"


#: Roles held in one team, stored on Membership.role.
TEAM_ROLES = (Role.LEAD, Role.MEMBER)
TEAM_ROLE_CHOICES = [(role.value, role.label) for role in TEAM_ROLES]


class Source(models.TextChoices):
    """Who granted a role: a sign-in through the identity provider changes only what it granted itself."""

    ADMIN = "admin", "Granted by an admin"
    PROVIDER = "provider", "From the identity provider's groups"


#: Django group -> the platform role it grants.
GROUP_ROLES = {APPROVERS_GROUP: Role.APPROVER, FINANCE_GROUP: Role.FINANCE}
#: Platform role -> the Django group that holds it.
PLATFORM_ROLE_GROUPS = {role: name for name, role in GROUP_ROLES.items()}

APPROVERS_ONLY = "Only platform admins in the approvers group can do this."
CHARGEBACK_READERS_ONLY = "Chargeback is for members of a team, the finance group and approvers."
FINANCE_ONLY = "Only members of the finance group can do this."


def platform_roles(user) -> frozenset[Role]:
    """Approver and finance, from the user's groups; an approver must be staff, a superuser always is one.

    Cached on the user object: a page asks several times.
    """
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_portal_roles", None)
    if cached is None:
        names = set(user.groups.values_list("name", flat=True))
        held = {role for name, role in GROUP_ROLES.items() if name in names}
        if user.is_superuser:
            held.add(Role.APPROVER)
        elif not user.is_staff:
            held.discard(Role.APPROVER)
        cached = user._portal_roles = frozenset(held)
    return cached


def roles_of(user, team=None) -> frozenset[Role]:
    """Every role `user` holds: the platform roles, and the team role in `team` if one is given."""
    held = set(platform_roles(user))
    if team is not None and user.is_authenticated:
        role = user.memberships.filter(team=team).values_list("role", flat=True).first()
        if role is not None:
            held.add(Role(role))
    return frozenset(held)


def approvers():
    """Every active user who holds the approver role, by the same rule as platform_roles."""
    users = get_user_model().objects.filter(is_active=True)
    in_group = Q(groups__name__in=[name for name, role in GROUP_ROLES.items() if role == Role.APPROVER], is_staff=True)
    return users.filter(in_group | Q(is_superuser=True)).distinct()


def finance_people():
    """Every active user in the finance group."""
    names = [name for name, role in GROUP_ROLES.items() if role == Role.FINANCE]
    return get_user_model().objects.filter(is_active=True, groups__name__in=names).distinct()


def people_of(team_id: int, *roles: Role):
    """The active users who hold one of `roles` in the team (any team role if none is named)."""
    memberships = {"memberships__team_id": team_id}
    if roles:
        memberships["memberships__role__in"] = roles
    return get_user_model().objects.filter(is_active=True, **memberships).distinct()


def is_approver(user) -> bool:
    return Role.APPROVER in platform_roles(user)


def is_finance(user) -> bool:
    return Role.FINANCE in platform_roles(user)


def is_lead(user, team) -> bool:
    return user.is_authenticated and user.memberships.filter(team=team, role=Role.LEAD).exists()


def sees_every_team(user) -> bool:
    """Approvers and finance read every team's data; finance changes nothing (the workflow refuses it).

    So does the system actor, for what no person does (budget checks read every cost center's chargeback).
    """
    return is_approver(user) or is_finance(user) or getattr(user, "username", None) == SYSTEM_USERNAME


def team_ids(user, *roles: Role):
    """The ids of the teams `user` holds one of `roles` in (any team role if none is named), as a subquery."""
    memberships = user.memberships.all()
    if roles:
        memberships = memberships.filter(role__in=roles)
    return memberships.values("team_id")


def restrict_to_teams(queryset: models.QuerySet, user, team_field: str) -> models.QuerySet:
    """`queryset` narrowed to the rows of teams `user` may see, reached through `team_field`.

    The one visibility rule behind every model's `visible_to(user)`: nothing for the
    anonymous, everything for those who see every team, their own teams' rows for the rest.
    """
    if not user.is_authenticated:
        return queryset.none()
    if sees_every_team(user):
        return queryset
    return queryset.filter(**{f"{team_field}__in": team_ids(user)})


def can_request_for(user, team) -> bool:
    """Only a team's leads ask for its namespaces and changes."""
    return is_lead(user, team)


def can_decide(user) -> bool:
    """Approve, reject, retry, dry-run and re-apply; the queue and the cluster overview."""
    return is_approver(user)


def can_cancel(user, request) -> bool:
    return user.is_authenticated and request.requested_by_id == user.pk


def can_resubmit(user, request) -> bool:
    """The requester answers "changes requested", while still a lead of the team."""
    return can_cancel(user, request) and is_lead(user, request.team)


def can_comment(user, request) -> bool:
    """A request's conversation is between its team (leads and members) and the approvers."""
    return user.is_authenticated and (is_approver(user) or user.memberships.filter(team_id=request.team_id).exists())


def can_read_chargeback(user) -> bool:
    """Finance and approvers read every team's costs; a team's leads and members read their own (visible_to)."""
    return sees_every_team(user) or (user.is_authenticated and team_ids(user).exists())


def can_see_clusters(user) -> bool:
    """Capacity is the approvers' concern (finance reads it too); teams see their namespaces instead."""
    return sees_every_team(user)


def can_see_api_schema(user) -> bool:
    """The schema and its docs are for signed-in users, unless API_SCHEMA_PUBLIC opens them."""
    return settings.API_SCHEMA_PUBLIC or user.is_authenticated


def require_approver(user) -> None:
    if not can_decide(user):
        raise PermissionDenied(APPROVERS_ONLY)


def require_lead(user, team) -> None:
    if not can_request_for(user, team):
        raise PermissionDenied(f"Only a lead of team {team.slug} can submit its requests.")


def require_chargeback_reader(user) -> None:
    if not can_read_chargeback(user):
        raise PermissionDenied(CHARGEBACK_READERS_ONLY)


def require_finance(user) -> None:
    """Closing and reopening months (and budgets) are finance's."""
    if not is_finance(user):
        raise PermissionDenied(FINANCE_ONLY)


def holds_any_role(user) -> bool:
    """A team role anywhere or a platform role: someone who holds none sees nothing and is told whom to ask."""
    return bool(platform_roles(user)) or (user.is_authenticated and user.memberships.exists())


def platform_admins() -> models.QuerySet:
    """Whom to ask for access: the active approvers and superusers."""
    approvers = models.Q(groups__name=APPROVERS_GROUP, is_staff=True) | models.Q(is_superuser=True)
    return get_user_model().objects.filter(approvers, is_active=True).distinct()


# Granting and revoking, for single sign-on's group mapping (accounts.group_mapping), which audits each change.


def memberships_by_team(user) -> dict:
    """{team id: the user's Membership in it}."""
    return {membership.team_id: membership for membership in user.memberships.select_related("team", "user")}


def grant_team_role(user, team_id: int, role: Role, *, source: Source):
    return user.memberships.create(team_id=team_id, role=role, source=source)


def held_platform_groups(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def grant_platform_role(user, role: Role) -> None:
    user.groups.add(Group.objects.get_or_create(name=PLATFORM_ROLE_GROUPS[role])[0])
    user.__dict__.pop("_portal_roles", None)


def revoke_platform_role(user, role: Role) -> None:
    user.groups.remove(*Group.objects.filter(name=PLATFORM_ROLE_GROUPS[role]))
    user.__dict__.pop("_portal_roles", None)


def set_staff(user, staff: bool) -> bool:
    """An approver counts only if staff (platform_roles). Whether this changed anything."""
    if user.is_staff == staff:
        return False
    user.is_staff = staff
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("_portal_roles", None)
    return True
