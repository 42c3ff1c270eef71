"""Django admin for platform admins: search, filters, and a read-only audit trail.

Desired state is never edited here: a namespace's spec, team, tier and adoption and a
request's state and specs change only through teams.workflow, which the admin actions
call with the same checks and audit rows as the queue and the cluster page. What the
admin may still change (cost centers, teams, memberships, the tier catalog's tiers and
future prices) is audited by AuditedModelAdmin; a price that may be billed already is
read-only.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.template.response import TemplateResponse

from teams import events, workflow
from teams.capacity import recount_guaranteed
from teams.catalog import check_rate_day, check_rate_outside_closed_months, is_billed
from teams.models import (
    AuditEvent,
    AutoApprovalRule,
    Cluster,
    Comment,
    CostCenter,
    DownsizeProposal,
    GpuResource,
    GpuTier,
    Grant,
    Membership,
    Rate,
    Request,
    RuleEvaluation,
    Team,
    TeamNamespace,
)
from teams.roles import can_decide


def audit_snapshot(obj: models.Model) -> dict:
    """The row's concrete fields as JSON values; a related row by its key (slug, code or username)."""
    values = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key:
            continue
        related = getattr(obj, field.name) if field.is_relation else None
        values[field.name] = _key(related) if related is not None else field.value_from_object(obj)
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def audit_target(obj: models.Model, noun: str = "") -> str:
    return f"{noun or obj._meta.model_name}:{_key(obj)}"


def _key(obj: models.Model) -> object:
    if hasattr(obj, "get_username"):
        return obj.get_username()
    return getattr(obj, "slug", None) or getattr(obj, "code", None) or obj.pk


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose every add, change and delete writes one audit row (teams.events), with
    the changed fields before and after; an unchanged save writes nothing. The base of every
    admin that may change rows."""

    #: The noun of the audit verbs and targets ("tier.changed", "tier:critical"); the model's name by default.
    audit_noun = ""

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            _audited_save(request.user, obj, change, self.audit_noun)

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            _audited_delete(request.user, obj, self.audit_noun)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                _audited_delete(request.user, obj, self.audit_noun)

    def save_formset(self, request, form, formset, change) -> None:
        """Inline rows (a team's memberships) are audited one by one, like rows of their own admin."""
        with transaction.atomic():
            instances = formset.save(commit=False)
            for obj in formset.deleted_objects:
                _audited_delete(request.user, obj)
            for obj in instances:
                _audited_save(request.user, obj, obj.pk is not None)
            formset.save_m2m()


def _audited_save(actor, obj: models.Model, change: bool, noun: str = "") -> None:
    before = audit_snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else {}
    obj.save()
    after = audit_snapshot(obj)
    changed = [name for name in after if before.get(name) != after[name]]
    if change and not changed:
        return
    events.record(
        f"{noun or obj._meta.model_name}.{'changed' if change else 'created'}",
        actor=actor,
        target=audit_target(obj, noun),
        before={name: before[name] for name in changed if name in before},
        after={name: after[name] for name in changed},
    )


def _audited_delete(actor, obj: models.Model, noun: str = "") -> None:
    target, before = audit_target(obj, noun), audit_snapshot(obj)
    obj.delete()
    events.record(f"{noun or obj._meta.model_name}.deleted", actor=actor, target=target, before=before)


@admin.register(CostCenter)
class CostCenterAdmin(AuditedModelAdmin):
    list_display = ["code", "name", "owner_contact"]
    search_fields = ["code", "name", "owner_contact"]


@admin.register(GpuTier)
class GpuTierAdmin(AuditedModelAdmin):
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
    filter_horizontal = ["gpu_resources"]
    audit_noun = "tier"

    def save_model(self, request, obj, form, change) -> None:
        """Whether a tier guarantees GPUs decides which quotas count as guaranteed: count them all again."""
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            recount_guaranteed()

    def save_related(self, request, form, formsets, change) -> None:
        """Which GPU resources a tier allows is audited like its fields: one row when the list changes."""
        before = sorted(form.instance.gpu_resources.values_list("name", flat=True)) if change else []
        super().save_related(request, form, formsets, change)
        after = sorted(form.instance.gpu_resources.values_list("name", flat=True))
        if before != after:
            events.record(
                "tier.gpu_resources_changed",
                actor=request.user,
                target=audit_target(form.instance, self.audit_noun),
                before={"gpu_resources": before},
                after={"gpu_resources": after},
            )


@admin.register(GpuResource)
class GpuResourceAdmin(AuditedModelAdmin):
    """What a GPU share is worth: a new weight recounts every namespace's guaranteed GPU-equivalents."""

    list_display = ["name", "weight", "description"]
    search_fields = ["name"]
    audit_noun = "gpu_resource"

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            recount_guaranteed()

    def has_delete_permission(self, request, obj=None) -> bool:
        """A resource a tier allows stays: namespaces may hold it, and capacity and chargeback weigh it."""
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.tiers.exists())

    def get_actions(self, request) -> dict:
        """No bulk delete: it would not ask, resource by resource, whether a tier allows it."""
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class RateForm(forms.ModelForm):
    class Meta:
        model = Rate
        fields = ["tier", "cluster", "resource", "kind", "effective_from", "price", "note"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("effective_from") is not None:
            if cleaned.get("tier") is not None and cleaned.get("resource") and cleaned.get("kind"):
                fields = ("tier", "cluster", "resource", "kind", "effective_from")
                check_rate_outside_closed_months(Rate(pk=self.instance.pk, **{name: cleaned[name] for name in fields}))
            check_rate_day(cleaned["effective_from"])
        return cleaned


@admin.register(Rate)
class RateAdmin(AuditedModelAdmin):
    """Prices: a change is a new row from a later day; a price that may be billed already is read-only."""

    form = RateForm
    list_display = ["tier", "cluster", "resource", "kind", "effective_from", "price", "note"]
    list_filter = ["tier", "cluster", "resource", "kind"]
    list_select_related = ["tier", "cluster"]
    date_hierarchy = "effective_from"
    ordering = ["tier", "cluster", "resource", "kind", "-effective_from"]
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


class MembershipInline(admin.TabularInline):  # audited by TeamAdmin.save_formset
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["source"]  # an admin's membership is the admin's; the provider's are kept by sign-ins


@admin.register(Cluster)
class ClusterAdmin(AuditedModelAdmin):
    """Which clusters exist. How the portal reaches one is provisioning's (its cluster connection admin).

    A cluster that holds namespaces, live or deleted, cannot be deleted (their history and
    chargeback name it): the admin's confirmation page lists them instead.
    """

    list_display = ["name", "is_default", "description", "created_at"]
    list_filter = ["is_default"]
    search_fields = ["name", "description"]


@admin.register(Team)
class TeamAdmin(AuditedModelAdmin):
    """A team's cost center is part of its namespaces' desired labels, and its clusters are where it may ask
    for namespaces: both changes are audited."""

    list_display = ["slug", "name", "cost_center", "default_tier"]
    list_filter = ["default_tier", "cost_center"]
    list_select_related = ["cost_center", "default_tier"]
    search_fields = ["slug", "name", "cost_center__code"]
    filter_horizontal = ["clusters"]
    inlines = [MembershipInline]

    def save_related(self, request, form, formsets, change) -> None:
        team = form.instance
        before = sorted(team.clusters.values_list("name", flat=True)) if change else []
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            after = sorted(team.clusters.values_list("name", flat=True))
            if after != before:
                events.record(
                    "team.clusters_changed",
                    actor=request.user,
                    target=f"team:{team.slug}",
                    before={"clusters": before},
                    after={"clusters": after},
                )


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    list_display = ["user", "team", "role", "source"]
    list_filter = ["role", "source", "team"]
    list_select_related = ["user", "team"]
    search_fields = ["user__username", "team__slug"]
    autocomplete_fields = ["user"]
    readonly_fields = ["source"]  # an admin's membership is the admin's; the provider's are kept by sign-ins


@admin.register(TeamNamespace)
class TeamNamespaceAdmin(admin.ModelAdmin):
    """Read-only: desired state changes by request (teams.workflow), observed state by provisioning."""

    list_display = [
        "name",
        "team",
        "tier",
        "phase",
        "is_drifted",
        "reconcile_state",
        "last_applied_at",
        "last_synced_at",
        "deleted_at",
    ]
    list_filter = ["tier", "team", "phase", "is_drifted", "reconcile_state"]
    list_select_related = ["team", "tier"]
    search_fields = ["name", "team__slug"]
    actions = ["reapply_selected"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [field.name for field in self.model._meta.fields if not field.primary_key]

    def has_add_permission(self, request) -> bool:
        return False  # Namespaces come from approved requests, adoption and the seed (teams.workflow).

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_reapply_permission(self, request) -> bool:
        return can_decide(request.user)

    @admin.action(description="Re-apply desired state (retry a failed reconcile)", permissions=["reapply"])
    def reapply_selected(self, request, queryset) -> None:
        for namespace in queryset.filter(deleted_at__isnull=True).order_by("pk"):
            try:
                workflow.request_reconcile(namespace.pk, actor=request.user)
            except PermissionDenied as error:
                self.message_user(request, f"Namespace {namespace.name}: {error}", messages.ERROR)
            else:
                self.message_user(request, f"Namespace {namespace.name} is being re-applied.", messages.SUCCESS)


class LookOnlyAdmin(admin.ModelAdmin):
    """For looking: what these rows hold changes only through the workflow and its events."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Request)
class RequestAdmin(LookOnlyAdmin):
    """Read-only: a request's state and specs change only through the workflow, which the actions call."""

    list_display = ["id", "kind", "namespace_name", "team", "state", "requested_by", "reviewed_by", "created_at"]
    list_filter = ["state", "kind", "team"]
    list_select_related = ["team", "requested_by", "reviewed_by"]
    search_fields = ["namespace_name", "justification", "requested_by__username"]
    date_hierarchy = "created_at"
    actions = ["approve_selected", "reject_selected", "retry_selected"]
    readonly_fields = [
        "kind",
        "state",
        "team",
        "namespace",
        "namespace_name",
        "proposed_spec",
        "revision",
        "first_changes",
        "granted_spec",
        "granted_changes",
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
        "until",
        "extends",
    ]

    def has_decide_permission(self, request) -> bool:
        return can_decide(request.user)

    @admin.action(description="Approve selected pending requests", permissions=["decide"])
    def approve_selected(self, request, queryset) -> None:
        self._run(request, queryset, lambda pk: workflow.approve_request(pk, actor=request.user), "approved")

    @admin.action(description="Reject selected pending requests with a note", permissions=["decide"])
    def reject_selected(self, request, queryset) -> TemplateResponse | None:
        """First a page asking for the note the requesters read; then the workflow's rejection for each."""
        note = request.POST.get("note", "")
        if "confirm" in request.POST and note.strip():
            self._run(
                request, queryset, lambda pk: workflow.reject_request(pk, actor=request.user, note=note), "rejected"
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Reject requests",
            "opts": self.model._meta,
            "queryset": queryset.order_by("pk"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "note": note,
            "missing_note": "confirm" in request.POST,
        }
        return TemplateResponse(request, "admin/teams/request/reject_selected.html", context)

    @admin.action(description="Retry selected failed (or stuck applying) requests", permissions=["decide"])
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


@admin.register(Grant)
class GrantAdmin(LookOnlyAdmin):
    """Grants are made by approvals, moved by extensions and ended by the system actor, all in the workflow."""

    list_display = ["request", "namespace", "until", "ends_at", "ended_at", "reversion"]
    list_filter = ["ended_at"]
    list_select_related = ["request", "namespace", "reversion"]
    search_fields = ["namespace__name"]
    date_hierarchy = "ends_at"


@admin.register(AuditEvent)
class AuditEventAdmin(LookOnlyAdmin):
    list_display = ["created_at", "actor", "verb", "target"]
    list_filter = ["verb"]
    list_select_related = ["actor"]
    search_fields = ["target", "verb", "actor__username"]
    date_hierarchy = "created_at"


@admin.register(Comment)
class CommentAdmin(LookOnlyAdmin):
    """Comments are written on the request's page or through the API, where each is audited."""

    list_display = ["created_at", "request", "author", "revision"]
    list_select_related = ["request", "author"]
    search_fields = ["body", "author__username", "request__namespace_name"]
    date_hierarchy = "created_at"


@admin.register(AutoApprovalRule)
class AutoApprovalRuleAdmin(LookOnlyAdmin):
    """Rules are written on the portal's rules page or through the API, where each save is audited."""

    list_display = ["order", "name", "mode", "kind", "tier", "updated_at"]
    list_filter = ["mode"]
    search_fields = ["name"]


@admin.register(RuleEvaluation)
class RuleEvaluationAdmin(LookOnlyAdmin):
    list_display = ["created_at", "request", "rule_name", "mode", "matched", "approved"]
    list_filter = ["mode", "matched", "approved"]
    list_select_related = ["request"]
    search_fields = ["rule_name", "request__namespace_name"]


@admin.register(DownsizeProposal)
class DownsizeProposalAdmin(LookOnlyAdmin):
    """The evidence of the daily scan's proposals; the proposals themselves are requests."""

    list_display = ["request", "namespace", "guaranteed_gpus", "proposed_gpus", "idle_gpu_hours", "declined_at"]
    list_select_related = ["request", "namespace"]
    search_fields = ["namespace__name"]


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)
