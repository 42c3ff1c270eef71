"""Clusters the portal provisions, the usage it observes there, and locks for periodic work."""

from datetime import timedelta

from django.db import models

from teams import roles
from teams.models import TeamNamespace


class ClusterQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClusterQuerySet":
        """Capacity is for approvers and finance (roles.can_see_clusters); teams see their namespaces instead."""
        return self if roles.can_see_clusters(user) else self.none()

    def all_or_default(self) -> list["Cluster"]:
        """Every configured cluster; the default one from settings when none is."""
        return list(self.all()) or [self.get_default()]

    def get_default(self) -> "Cluster":
        """The cluster new namespaces go to, made from settings on first use."""
        from django.conf import settings

        cluster = self.filter(is_default=True).first()
        if cluster is None:
            cluster, _ = self.get_or_create(
                name="default",
                defaults={"kubeconfig_path": settings.KUBECONFIG, "context": settings.KUBE_CONTEXT, "is_default": True},
            )
        return cluster


class Cluster(models.Model):
    """A Kubernetes cluster and what the portal last saw of it."""

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Not yet synced"
        OK = "ok", "Reachable"
        UNREACHABLE = "unreachable", "Unreachable"
        ERROR = "error", "Refusing the portal"

    name = models.SlugField(max_length=63, unique=True)
    kubeconfig_path = models.CharField(max_length=500, blank=True, help_text="Empty with in-cluster config.")
    context = models.CharField(max_length=200, blank=True, help_text="Context in the kubeconfig; empty: current.")
    in_cluster = models.BooleanField(default=False, help_text="Use the pod's service account instead of a kubeconfig.")
    is_default = models.BooleanField(default=False)
    gpu_capacity = models.PositiveIntegerField(default=0, help_text="Allocatable nvidia.com/gpu over Ready nodes.")
    ready_nodes = models.PositiveIntegerField(default=0)
    guaranteed_gpus = models.PositiveIntegerField(default=0, help_text="Sum over managed namespaces.")
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    capacity_synced_at = models.DateTimeField(null=True, blank=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="one_default")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class UsageSampleQuerySet(models.QuerySet):
    def visible_to(self, user) -> "UsageSampleQuerySet":
        return roles.restrict_to_teams(self, user, "namespace__team")


class UsageSample(models.Model):
    """One quota key of one namespace at one time; written only when it changes, or hourly.

    Chargeback integrates these as a step function: a value holds until the next sample.
    `used` is null when the quota controller had not reported usage yet (unknown, not 0).
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    namespace = models.ForeignKey(TeamNamespace, on_delete=models.CASCADE, related_name="usage_samples")
    quota_name = models.CharField(max_length=253)
    resource = models.CharField(max_length=253)
    time = models.DateTimeField()
    hard = models.DecimalField(max_digits=32, decimal_places=9)
    used = models.DecimalField(max_digits=32, decimal_places=9, null=True)

    objects = UsageSampleQuerySet.as_manager()

    #: How far back pages read raw samples (the longest usage chart): pruning keeps at least this much.
    READ_BACK = timedelta(days=30)

    class Meta:
        indexes = [
            models.Index(fields=["namespace", "resource", "time"]),
            models.Index(fields=["time"]),
        ]
        ordering = ["time", "pk"]

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.resource} {self.used}/{self.hard} at {self.time:%Y-%m-%d %H:%M:%S}"


class TaskLock(models.Model):
    """A named lease, so that periodic work runs at most once at a time across beat processes."""

    name = models.CharField(max_length=100, unique=True)
    owner = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} (held until {self.expires_at:%H:%M:%S})"
