"""The two built-in groups and what they may do in the Django admin.

Kept in sync after every migrate, so a new model's permissions reach the groups
without a hand-written data migration.
"""

from django.contrib.auth.models import Group, Permission

from teams.constants import APPROVERS_GROUP, FINANCE_GROUP

#: model -> the admin actions approvers get on it. Namespaces and requests are view-only: their
#: desired state and state change through the workflow (admin actions), audit events never.
APPROVER_ACTIONS = {
    "costcenter": ("view", "add", "change"),
    "gputier": ("view", "add", "change"),
    "rate": ("view", "add", "change", "delete"),  # only prices not yet billed: teams.admin.RateAdmin
    "team": ("view", "add", "change"),
    "membership": ("view", "add", "change", "delete"),
    "teamnamespace": ("view",),
    "request": ("view",),
    "auditevent": ("view",),
}


def ensure_groups(**kwargs) -> None:
    """Create `approvers` and `finance` with their permissions (a post_migrate receiver)."""
    permissions = {
        (permission.content_type.model, permission.codename.split("_", 1)[0]): permission
        for permission in Permission.objects.filter(content_type__app_label="teams").select_related("content_type")
    }
    approvers, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
    wanted = [
        permissions[model, action]
        for model, actions in APPROVER_ACTIONS.items()
        for action in actions
        if (model, action) in permissions
    ]
    # Take back what an earlier version granted (change on namespaces and requests); other apps' stay.
    approvers.permissions.remove(*(p for p in permissions.values() if p not in wanted))
    approvers.permissions.add(*wanted)
    finance, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    finance.permissions.add(*(permission for (_, action), permission in permissions.items() if action == "view"))
