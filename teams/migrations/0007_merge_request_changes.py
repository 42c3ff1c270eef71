from django.db import migrations, models


def record_changes(apps, schema_editor) -> None:
    """Give existing requests their changes: pending ones against the namespace now, decided ones
    against the spec their approval replaced. Approval compares them, so a pending request needs them."""
    from teams.specs import spec_changes

    Request = apps.get_model("teams", "Request")
    AuditEvent = apps.get_model("teams", "AuditEvent")
    for request in Request.objects.exclude(kind="delete_namespace").select_related("namespace__tier").iterator():
        if request.state == "pending":
            namespace = request.namespace
            current = (
                {
                    "tier": namespace.tier.slug,
                    "labels": namespace.labels,
                    "quotas": namespace.quotas,
                    "limitRange": namespace.limit_range,
                }
                if namespace is not None
                else {}
            )
        else:
            approval = AuditEvent.objects.filter(request=request, verb="request.approved").first()
            if approval is None:
                continue
            current = approval.before.get("spec") or {}
        Request.objects.filter(pk=request.pk).update(changes=spec_changes(current, request.proposed_spec))


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0006_catalog_rates"),
    ]

    operations = [
        migrations.AddField(
            model_name="request",
            name="changes",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="What approval changes, one row per key, computed at submission (teams.specs.spec_changes).",
            ),
        ),
        migrations.AlterField(
            model_name="request",
            name="proposed_spec",
            field=models.JSONField(
                blank=True, default=dict, help_text="The sections the request changes, each whole (teams.specs)."
            ),
        ),
        migrations.RunPython(record_changes, migrations.RunPython.noop),
    ]
