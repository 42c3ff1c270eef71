"""Every rolled-up row has its cluster now (0006 filled them): the column is NOT NULL."""

import django.db.models.deletion
from django.db import migrations, models

MODELS = ("hourlyusage", "dailyusage", "monthlyusage", "usageadjustment")


class Migration(migrations.Migration):
    dependencies = [("chargeback", "0006_usage_cluster")]

    operations = [
        migrations.AlterField(
            model_name=name,
            name="cluster",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="teams.cluster"),
        )
        for name in MODELS
    ]
