from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations, models
import django.db.models.deletion

SYSTEM_USERNAME = "gpu-portal-system"  # teams.events.SYSTEM_USERNAME, frozen as of this migration


def create_system_actor(apps, schema_editor):
    """The user row that acts for the portal; audit rows written by workers before it existed become its."""
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    User = apps.get_model(app_label, model_name)
    system, _ = User.objects.get_or_create(
        username=SYSTEM_USERNAME,
        defaults={
            "is_active": False,
            "first_name": "GPU Quota Portal",
            "last_name": "(system)",
            "password": make_password(None),
        },
    )
    AuditEvent = apps.get_model("teams", "AuditEvent")
    AuditEvent.objects.filter(actor__isnull=True).update(actor=system)


class Migration(migrations.Migration):

    dependencies = [
        ("teams", "0003_sync_fingerprint"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(create_system_actor, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                help_text="Who did it; the system actor for what no person did (workers, beat, expiries).",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
    ]
