"""Rolled-up usage names its namespace's cluster: reports group, filter and price by cluster.

The column is added nullable and filled from each row's namespace (a namespace never moves
cluster, so that is the cluster of every hour it ever had); 0007 makes it NOT NULL, in a
transaction of its own: PostgreSQL refuses to ALTER a table with deferred FK checks pending.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery

MODELS = ("hourlyusage", "dailyusage", "monthlyusage", "usageadjustment")


def fill_clusters(apps, schema_editor):
    namespaces = apps.get_model("teams", "TeamNamespace").objects
    for name in MODELS:
        model = apps.get_model("chargeback", name)
        model.objects.filter(cluster__isnull=True).update(
            cluster_id=Subquery(namespaces.filter(pk=OuterRef("namespace_id")).values("cluster_id")[:1])
        )


def cluster_field(null: bool) -> models.ForeignKey:
    return models.ForeignKey(
        null=null, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="teams.cluster"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("chargeback", "0005_budgets"),
        ("teams", "0017_rate_per_cluster"),
    ]

    operations = [
        *(migrations.AddField(model_name=name, name="cluster", field=cluster_field(True)) for name in MODELS),
        migrations.RunPython(fill_clusters, migrations.RunPython.noop),
    ]
