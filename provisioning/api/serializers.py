"""What the API shows of clusters and usage samples."""

from rest_framework import serializers

from provisioning.models import ClusterConnection, UsageSample


class ClusterSerializer(serializers.ModelSerializer):
    """Capacity and what is promised against it; how the portal connects stays private."""

    name = serializers.CharField(source="cluster.name")
    description = serializers.CharField(source="cluster.description")
    is_default = serializers.BooleanField(source="cluster.is_default")
    guaranteed_gpus = serializers.DecimalField(
        max_digits=16,
        decimal_places=6,
        read_only=True,
        help_text="GPU-equivalents, summed over the cluster's live namespaces.",
    )

    class Meta:
        model = ClusterConnection
        fields = [
            "name",
            "description",
            "is_default",
            "gpu_capacity",
            "ready_nodes",
            "guaranteed_gpus",
            "health",
            "last_error",
            "last_synced_at",
            "capacity_synced_at",
        ]


class UsageSampleSerializer(serializers.ModelSerializer):
    cluster = serializers.CharField(source="cluster.name", read_only=True)
    namespace = serializers.CharField(source="namespace.name", read_only=True)
    used = serializers.DecimalField(
        max_digits=32, decimal_places=9, allow_null=True, help_text="Null: not reported yet (unknown, not 0)."
    )

    class Meta:
        model = UsageSample
        fields = ["id", "cluster", "namespace", "namespace_id", "quota_name", "resource", "time", "hard", "used"]


class DryRunSerializer(serializers.Serializer):
    accepted = serializers.BooleanField()
    message = serializers.CharField()
    objects = serializers.ListField(child=serializers.CharField(), help_text="kind/name of each object checked.")
