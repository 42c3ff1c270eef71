from django.contrib import admin

from provisioning.models import ClusterConnection, QuotaWarning, UsageSample
from teams.admin import LookOnlyAdmin


@admin.register(ClusterConnection)
class ClusterConnectionAdmin(LookOnlyAdmin):
    """Read-only: connections are added, changed and removed on the portal's cluster pages or with
    `manage.py connect_cluster` (provisioning.connections, audited); uploaded credentials are never shown."""

    list_display = ["cluster", "source", "health", "gpu_capacity", "ready_nodes", "last_synced_at"]
    list_filter = ["health"]
    list_select_related = ["cluster"]
    search_fields = ["cluster__name"]
    fields = [
        "cluster",
        "source",
        "context",
        "health",
        "last_error",
        "gpu_capacity",
        "ready_nodes",
        "last_synced_at",
        "capacity_synced_at",
    ]
    readonly_fields = fields


@admin.register(UsageSample)
class UsageSampleAdmin(admin.ModelAdmin):
    list_display = ["time", "namespace", "quota_name", "resource", "used", "hard"]
    list_filter = ["resource", "cluster"]
    list_select_related = ["namespace"]
    search_fields = ["namespace__name", "resource"]
    date_hierarchy = "time"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(QuotaWarning)
class QuotaWarningAdmin(LookOnlyAdmin):
    """Read-only: the usage sync writes these (provisioning.quota_warnings); thresholds are set on tiers and teams."""

    list_display = ["namespace", "quota_name", "resource", "percent", "level", "used", "hard", "warned_at"]
    list_filter = ["resource", "level"]
    list_select_related = ["namespace"]
    search_fields = ["namespace__name", "quota_name"]
