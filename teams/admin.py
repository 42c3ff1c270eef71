"""Django admin for platform admins: search, filters, and a read-only audit trail.

Request state is never edited here: it changes only through teams.workflow, which the
admin actions call.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from teams import workflow
from teams.models import AuditEvent, CostCenter, GpuTier, Membership, Request, Team, TeamNamespace


@admin.register(CostCenter)
class CostCenterAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "owner_contact"]
    search_fields = ["code", "name", "owner_contact"]


@admin.register(GpuTier)
class GpuTierAdmin(admin.ModelAdmin):
    list_display = [
        "slug",
        "name",
        "priority_class_name",
        "priority_value",
        "preemption_policy",
        "allows_guaranteed_gpus",
        "max_guaranteed_gpus",
        "max_gpu_limit",
        "reserved_gpu_hour_rate",
        "used_gpu_hour_rate",
    ]
    list_filter = ["preemption_policy", "allows_guaranteed_gpus"]
    search_fields = ["slug", "name", "priority_class_name"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "cost_center", "default_tier"]
    list_filter = ["default_tier", "cost_center"]
    list_select_related = ["cost_center", "default_tier"]
    search_fields = ["slug", "name", "cost_center__code"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    list_select_related = ["user", "team"]
    search_fields = ["user__username", "team__slug"]
    autocomplete_fields = ["user"]


@admin.register(TeamNamespace)
class TeamNamespaceAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "tier", "phase", "is_drifted", "last_applied_at", "last_synced_at", "deleted_at"]
    list_filter = ["tier", "team", "phase", "is_drifted"]
    list_select_related = ["team", "tier"]
    search_fields = ["name", "team__slug"]
    readonly_fields = [
        "phase",
        "observed_quotas",
        "is_drifted",
        "drift",
        "last_applied_at",
        "last_synced_at",
        "created_at",
        "deletion_requested_at",
        "deleted_at",
    ]


@admin.register(Request)
class RequestAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "namespace_name", "team", "state", "requested_by", "reviewed_by", "created_at"]
    list_filter = ["state", "kind", "team"]
    list_select_related = ["team", "requested_by", "reviewed_by"]
    search_fields = ["namespace_name", "justification", "requested_by__username"]
    date_hierarchy = "created_at"
    actions = ["approve_selected", "retry_selected"]
    readonly_fields = [
        "kind",
        "state",
        "team",
        "namespace",
        "namespace_name",
        "proposed_spec",
        "warnings",
        "justification",
        "requested_by",
        "reviewed_by",
        "decision_note",
        "last_error",
        "created_at",
        "updated_at",
        "decided_at",
        "applied_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # Requests come through the portal's forms and API, where policy runs.

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Approve selected pending requests")
    def approve_selected(self, request, queryset) -> None:
        self._run(request, queryset, lambda pk: workflow.approve_request(pk, actor=request.user), "approved")

    @admin.action(description="Retry selected failed requests")
    def retry_selected(self, request, queryset) -> None:
        self._run(request, queryset, lambda pk: workflow.retry_request(pk, actor=request.user), "retried")

    def _run(self, request, queryset, action, done: str) -> None:
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                action(pk)
            except (workflow.InvalidTransition, PermissionDenied, ValidationError) as error:
                self.message_user(request, f"Request #{pk}: {_describe(error)}", messages.ERROR)
            else:
                self.message_user(request, f"Request #{pk} {done}.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "verb", "target"]
    list_filter = ["verb"]
    list_select_related = ["actor"]
    search_fields = ["target", "verb", "actor__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)
