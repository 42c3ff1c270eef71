"""Provisioning keeps a cluster's connection and what it saw there; its identity is `teams.Cluster`.

Samples, pending applies and refusals point at `teams.Cluster` (same ids, teams 0012 copied
them), and each old row's connection and health move to `ClusterConnection`.
"""

import django.db.models.deletion
from django.db import migrations, models


def move_connections(apps, schema_editor):
    OldCluster = apps.get_model("provisioning", "Cluster")
    ClusterConnection = apps.get_model("provisioning", "ClusterConnection")
    for old in OldCluster.objects.all():
        ClusterConnection.objects.create(
            cluster_id=old.pk,
            kubeconfig_path=old.kubeconfig_path,
            context=old.context,
            in_cluster=old.in_cluster,
            gpu_capacity=old.gpu_capacity,
            ready_nodes=old.ready_nodes,
            health=old.health,
            last_error=old.last_error,
            last_synced_at=old.last_synced_at,
            capacity_synced_at=old.capacity_synced_at,
        )


def cluster_field():
    return models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="teams.cluster")


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0004_quota_warning"),
        ("teams", "0012_clusters"),
    ]

    operations = [
        migrations.AlterField(model_name="usagesample", name="cluster", field=cluster_field()),
        migrations.AlterField(model_name="pendingapply", name="cluster", field=cluster_field()),
        migrations.AlterField(model_name="quotarefusal", name="cluster", field=cluster_field()),
        migrations.CreateModel(
            name="ClusterConnection",
            fields=[
                (
                    "cluster",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="connection",
                        serialize=False,
                        to="teams.cluster",
                    ),
                ),
                (
                    "kubeconfig_path",
                    models.CharField(blank=True, help_text="Empty with in-cluster config.", max_length=500),
                ),
                (
                    "context",
                    models.CharField(blank=True, help_text="Context in the kubeconfig; empty: current.", max_length=200),
                ),
                (
                    "in_cluster",
                    models.BooleanField(
                        default=False, help_text="Use the pod's service account instead of a kubeconfig."
                    ),
                ),
                (
                    "gpu_capacity",
                    models.PositiveIntegerField(default=0, help_text="Allocatable nvidia.com/gpu over Ready nodes."),
                ),
                ("ready_nodes", models.PositiveIntegerField(default=0)),
                (
                    "health",
                    models.CharField(
                        choices=[
                            ("unknown", "Not yet synced"),
                            ("ok", "Reachable"),
                            ("unreachable", "Unreachable"),
                            ("error", "Refusing the portal"),
                        ],
                        default="unknown",
                        max_length=16,
                    ),
                ),
                ("last_error", models.TextField(blank=True)),
                ("last_synced_at", models.DateTimeField(blank=True, null=True)),
                ("capacity_synced_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={"ordering": ["cluster__name"]},
        ),
        migrations.RunPython(move_connections, migrations.RunPython.noop),
        migrations.DeleteModel(name="Cluster"),
    ]
