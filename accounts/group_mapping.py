"""The provider's groups -> the portal's roles, applied at every sign-in through the provider.

What the provider granted it also takes back; what an admin granted by hand is never touched, even where the
provider's groups say otherwise (a known failure of other portals: a sign-in that wipes manual grants). Team roles
are Membership rows marked with their source; platform roles are the Django groups of teams.roles.GROUP_ROLES, and the
identity remembers which of those the provider granted. Every change is one audit row by the system actor.
"""

from accounts.models import GroupMapping, ProviderIdentity
from teams import events, roles
from teams.admin import audit_snapshot, audit_target
from teams.models import Membership
from teams.roles import PLATFORM_ROLE_GROUPS, TEAM_ROLES, Role, Source


def mapped_roles(groups: list[str]) -> tuple[dict[int, Role], set[Role]]:
    """({team id: the strongest team role the groups give in it}, {platform roles the groups give})."""
    team_roles: dict[int, Role] = {}
    platform: set[Role] = set()
    for mapping in GroupMapping.objects.filter(provider_group__in=groups):
        role = Role(mapping.role)
        if mapping.team_id is None:
            platform.add(role)
        else:
            current = team_roles.get(mapping.team_id)
            if current is None or TEAM_ROLES.index(role) < TEAM_ROLES.index(current):
                team_roles[mapping.team_id] = role  # TEAM_ROLES lists the strongest first: a lead is also a member
    return team_roles, platform


def apply_groups(identity: ProviderIdentity, groups: list[str]) -> None:
    """Make the user's provider-granted roles what the mappings of `groups` say (in the caller's transaction)."""
    actor = events.system_actor()
    team_roles, platform = mapped_roles(groups)
    _apply_team_roles(identity.user, team_roles, actor)
    _apply_platform_roles(identity, platform, actor)


def _apply_team_roles(user, wanted: dict[int, Role], actor) -> None:
    held = roles.memberships_by_team(user)
    for team_id, role in wanted.items():
        membership = held.get(team_id)
        if membership is None:
            membership = roles.grant_team_role(user, team_id, role, source=Source.PROVIDER)
            _record("membership.created", actor, membership, {}, audit_snapshot(membership))
        elif membership.source == Source.PROVIDER and membership.role != role:
            before = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            _record("membership.changed", actor, membership, {"role": before}, {"role": role.value})
        # An admin's membership stays as the admin made it, whatever role the provider's groups give.
    for team_id, membership in held.items():
        if membership.source == Source.PROVIDER and team_id not in wanted:
            target, before = audit_target(membership), audit_snapshot(membership)
            membership.delete()
            events.record("membership.deleted", actor=actor, target=target, before=before)


def _record(verb: str, actor, membership: Membership, before: dict, after: dict) -> None:
    events.record(verb, actor=actor, target=audit_target(membership), before=before, after=after)


def _apply_platform_roles(identity: ProviderIdentity, wanted: set[Role], actor) -> None:
    user = identity.user
    held = roles.held_platform_groups(user)
    granted = set(identity.granted_groups)
    for role, name in PLATFORM_ROLE_GROUPS.items():
        if role in wanted and name not in held:
            roles.grant_platform_role(user, role)
            granted.add(name)
            _record_user("role.granted", actor, user, {"role": role.value})
        elif role not in wanted and name in granted:
            granted.discard(name)
            if name in held:
                roles.revoke_platform_role(user, role)
                _record_user("role.revoked", actor, user, {"role": role.value})
        # Held and wanted, but not granted by the provider: an admin's grant, which stays theirs.
    identity.granted_groups = sorted(granted)
    _apply_staff(identity, PLATFORM_ROLE_GROUPS[Role.APPROVER] in granted, actor)
    identity.save(update_fields=["granted_groups", "granted_staff"])


def _apply_staff(identity: ProviderIdentity, is_provider_approver: bool, actor) -> None:
    """An approver counts only if staff: the provider's approvers are made staff, and only those are unmade."""
    if is_provider_approver and not identity.granted_staff and roles.set_staff(identity.user, True):
        identity.granted_staff = True
        _record_user("user.changed", actor, identity.user, {"staff": True})
    elif not is_provider_approver and identity.granted_staff:
        identity.granted_staff = False
        roles.set_staff(identity.user, False)
        _record_user("user.changed", actor, identity.user, {"staff": False})


def _record_user(verb: str, actor, user, after: dict) -> None:
    target = f"user:{user.get_username()}"
    events.record(verb, actor=actor, target=target, after={**after, "source": Source.PROVIDER.value})
