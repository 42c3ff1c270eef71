"""A namespace belongs to a cluster: the clusters' identity moves to the ground floor.

Each cluster provisioning knew becomes a `teams.Cluster` with the same id and name, so that
provisioning's rows can point at it next (provisioning 0005); existing namespaces and requests
go to the default cluster, the only one the portal could provision before.
"""

import django.db.models.deletion
from django.conf import settings
from django.core.management.color import no_style
from django.db import migrations, models

import teams.models


def copy_clusters(apps, schema_editor):
    Cluster = apps.get_model("teams", "Cluster")
    OldCluster = apps.get_model("provisioning", "Cluster")
    for old in OldCluster.objects.order_by("pk"):
        Cluster.objects.create(id=old.pk, name=old.name, is_default=old.is_default)
    if not Cluster.objects.filter(is_default=True).exists():
        first = Cluster.objects.order_by("pk").first()
        if first is not None:
            first.is_default = True
            first.save(update_fields=["is_default"])
    # Rows written with their ids leave PostgreSQL's sequence behind; the next cluster must not collide.
    with schema_editor.connection.cursor() as cursor:
        for statement in schema_editor.connection.ops.sequence_reset_sql(no_style(), [Cluster]):
            cursor.execute(statement)


def place_on_default(apps, schema_editor):
    Cluster = apps.get_model("teams", "Cluster")
    TeamNamespace = apps.get_model("teams", "TeamNamespace")
    Request = apps.get_model("teams", "Request")
    if not TeamNamespace.objects.exists() and not Request.objects.exists():
        return
    default = Cluster.objects.filter(is_default=True).first()
    if default is None:
        default = Cluster.objects.create(name=settings.DEFAULT_CLUSTER_NAME, is_default=True)
    TeamNamespace.objects.update(cluster=default)
    Request.objects.update(cluster=default)


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0011_namespace_guaranteed_gpus"),
        ("provisioning", "0004_quota_warning"),
    ]

    operations = [
        migrations.CreateModel(
            name="Cluster",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.SlugField(
                        help_text="Its name in URLs, the API, metrics.",
                        max_length=63,
                        unique=True,
                        validators=[teams.models.dns_label_validator],
                    ),
                ),
                (
                    "description",
                    models.CharField(
                        blank=True, help_text="What it is for, e.g. training in eu-west.", max_length=200
                    ),
                ),
                (
                    "is_default",
                    models.BooleanField(default=False, help_text="Where a request that names no cluster goes."),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["-is_default", "name"]},
        ),
        migrations.AddConstraint(
            model_name="cluster",
            constraint=models.UniqueConstraint(
                condition=models.Q(("is_default", True)), fields=("is_default",), name="teams_cluster_one_default"
            ),
        ),
        migrations.RunPython(copy_clusters, migrations.RunPython.noop),
        migrations.AddField(
            model_name="team",
            name="clusters",
            field=models.ManyToManyField(
                blank=True,
                help_text="The clusters the team may ask for namespaces on; none chosen: every cluster.",
                related_name="teams_allowed",
                to="teams.cluster",
            ),
        ),
        migrations.AddField(
            model_name="teamnamespace",
            name="cluster",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="namespaces", to="teams.cluster"
            ),
        ),
        migrations.AddField(
            model_name="request",
            name="cluster",
            field=models.ForeignKey(
                help_text="Where the namespace is, or will be.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="requests",
                to="teams.cluster",
            ),
        ),
        migrations.RunPython(place_on_default, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="teamnamespace",
            name="cluster",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="namespaces", to="teams.cluster"
            ),
        ),
        migrations.AlterField(
            model_name="request",
            name="cluster",
            field=models.ForeignKey(
                help_text="Where the namespace is, or will be.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="requests",
                to="teams.cluster",
            ),
        ),
        migrations.RemoveConstraint(model_name="teamnamespace", name="teamnamespace_unique_live_name"),
        migrations.AddConstraint(
            model_name="teamnamespace",
            constraint=models.UniqueConstraint(
                condition=models.Q(("deleted_at__isnull", True)),
                fields=("cluster", "name"),
                name="teamnamespace_unique_live_name_per_cluster",
            ),
        ),
        migrations.AlterModelOptions(
            name="teamnamespace", options={"ordering": ["name", "cluster"], "verbose_name": "team namespace"}
        ),
    ]
