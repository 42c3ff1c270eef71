from django.contrib import admin, messages

from accounts.actions import revoke_api_token
from accounts.models import ApiToken, GroupMapping, ProviderIdentity
from teams.admin import AuditedModelAdmin, LookOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owners on the profile page; admins can only see and revoke them.

    Nothing is edited here (the hash never shows): revoking goes through accounts.actions, audited.
    """

    list_display = [
        "display_prefix",
        "name",
        "user",
        "read_only",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["read_only"]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__username"]
    readonly_fields = ["user", "name", "prefix", "read_only", "expires_at", "created_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]
    actions = ["revoke_selected"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # A revoked token stays, so that its audit trail keeps pointing at it.

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset) -> None:
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_api_token(token, actor=request.user)
        messages.success(request, "Tokens revoked.")


@admin.register(GroupMapping)
class GroupMappingAdmin(AuditedModelAdmin):
    """Which identity-provider group makes whom lead, member, approver or finance; applied at each sign-in."""

    list_display = ["provider_group", "role", "team"]
    list_filter = ["role", "team"]
    list_select_related = ["team"]
    search_fields = ["provider_group", "team__slug"]
    audit_noun = "group_mapping"


@admin.register(ProviderIdentity)
class ProviderIdentityAdmin(LookOnlyAdmin):
    """Who signed in through the provider: written only by sign-ins (accounts.identities), for looking."""

    list_display = ["user", "subject", "issuer", "email", "confirmed_at", "refused_at"]
    list_filter = ["issuer"]
    list_select_related = ["user"]
    search_fields = ["subject", "email", "user__username"]
    readonly_fields = ["user", "issuer", "subject", "email", "groups", "confirmed_at", "refused_at", "created_at"]
    exclude = ["refresh_token", "granted_groups", "granted_staff"]
