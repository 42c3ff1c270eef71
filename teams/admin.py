"""Django admin for platform admins: search, filters, and a read-only audit trail.

Request state is never edited here: it changes only through teams.workflow, which the
admin actions call. Tiers and rates (the tier catalog) are edited here, each change
audited; a price that may be billed already is read-only.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from teams import events, workflow
from teams.catalog import check_rate_day, is_billed
from teams.models import AuditEvent, CostCenter, GpuTier, Membership, Rate, Request, Team, TeamNamespace


@admin.register(CostCenter)
class CostCenterAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "owner_contact"]
    search_fields = ["code", "name", "owner_contact"]


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete in the admin writes one audit row, as its user (teams.events)."""

    audit_noun = ""

    def save_model(self, request, obj, form, change) -> None:
        before = _snapshot(type(obj).objects.get(pk=obj.pk), form.changed_data) if change else {}
        super().save_model(request, obj, form, change)
        after = _snapshot(obj, form.changed_data if change else list(form.fields))
        verb = f"{self.audit_noun}.{'changed' if change else 'created'}"
        events.record(verb, actor=request.user, target=self._target(obj), before=before, after=after)

    def delete_model(self, request, obj) -> None:
        target, before = self._target(obj), _snapshot(obj, [field.name for field in obj._meta.concrete_fields])
        super().delete_model(request, obj)
        events.record(f"{self.audit_noun}.deleted", actor=request.user, target=target, before=before)

    def delete_queryset(self, request, queryset) -> None:
        """Bulk delete, one audited delete per row."""
        for obj in queryset:
            self.delete_model(request, obj)

    def _target(self, obj) -> str:
        return f"{self.audit_noun}:{obj.pk}"


@admin.register(GpuTier)
class GpuTierAdmin(AuditedAdmin):
    list_display = [
        "slug",
        "name",
        "priority_class_name",
        "priority_value",
        "preemption_policy",
        "allows_guaranteed_gpus",
        "max_guaranteed_gpus",
        "max_gpu_limit",
    ]
    list_filter = ["preemption_policy", "allows_guaranteed_gpus"]
    search_fields = ["slug", "name", "priority_class_name"]
    audit_noun = "tier"

    def _target(self, obj) -> str:
        return f"tier:{obj.slug}"


class RateForm(forms.ModelForm):
    class Meta:
        model = Rate
        fields = ["tier", "resource", "kind", "effective_from", "price", "note"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("effective_from") is not None:
            check_rate_day(cleaned["effective_from"])
        return cleaned


@admin.register(Rate)
class RateAdmin(AuditedAdmin):
    """Prices: a change is a new row from a later day; a price that may be billed already is read-only."""

    form = RateForm
    list_display = ["tier", "resource", "kind", "effective_from", "price", "note"]
    list_filter = ["tier", "resource", "kind"]
    list_select_related = ["tier"]
    date_hierarchy = "effective_from"
    ordering = ["tier", "resource", "kind", "-effective_from"]
    audit_noun = "rate"

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and not (obj is not None and is_billed(obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and is_billed(obj))

    def get_actions(self, request) -> dict:
        """No bulk delete: it would not ask, rate by rate, whether the price was billed."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


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


def _snapshot(obj, names: list[str]) -> dict:
    """Field values as an audit row stores them: JSON values as they are, anything else (dates, prices) as text."""
    values = {}
    for name in names:
        value = obj._meta.get_field(name).value_from_object(obj)
        values[name] = value if isinstance(value, str | int | bool | dict | list | None) else str(value)
    return values


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)
