from django.contrib import admin

from chargeback.models import Budget, RollupState
from teams.admin import AuditedModelAdmin


@admin.register(RollupState)
class RollupStateAdmin(admin.ModelAdmin):
    list_display = ["name", "complete_until", "updated_at"]
    readonly_fields = ["name", "complete_until", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Budget)
class BudgetAdmin(AuditedModelAdmin):
    """Budgets per cost center (or team) and month or quarter; every change is audited."""

    list_display = ["cost_center", "team", "period", "gpu_hours", "amount"]
    list_filter = ["period", "cost_center"]
    list_select_related = ["cost_center", "team"]
    audit_noun = "budget"
