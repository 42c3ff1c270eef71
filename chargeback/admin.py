from django.contrib import admin

from chargeback.models import Rate, RollupState


@admin.register(Rate)
class RateAdmin(admin.ModelAdmin):
    """Prices: one row per tier, resource and kind from a day on; a change is a new row, history stays."""

    list_display = ["tier", "resource", "kind", "effective_from", "price", "note"]
    list_filter = ["tier", "resource", "kind"]
    date_hierarchy = "effective_from"
    ordering = ["tier", "resource", "kind", "-effective_from"]


@admin.register(RollupState)
class RollupStateAdmin(admin.ModelAdmin):
    list_display = ["name", "complete_until", "updated_at"]
    readonly_fields = ["name", "complete_until", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
