"""Clusters the portal provisions, the usage it observes there, and locks for periodic work."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models

from teams import roles
from teams.models import Cluster, TeamNamespace


class ClusterConnectionQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClusterConnectionQuerySet":
        """Capacity is for approvers and finance (roles.can_see_clusters); teams see their namespaces instead."""
        return self if roles.can_see_clusters(user) else self.none()

    def of(self, cluster: Cluster) -> "ClusterConnection":
        """The connection of `cluster`; the default cluster's is made from KUBECONFIG and KUBE_CONTEXT on first use."""
        connection = self.filter(cluster=cluster).first()
        if connection is not None:
            return connection
        if not cluster.is_default:
            raise ClusterConnection.DoesNotExist(f"Cluster {cluster.name} has no connection: add one in the admin.")
        connection, _ = self.get_or_create(
            cluster=cluster, defaults={"kubeconfig_path": settings.KUBECONFIG, "context": settings.KUBE_CONTEXT}
        )
        return connection

    def every(self) -> list["ClusterConnection"]:
        """Every connected cluster (the default one's connection made on first use): what periodic work covers."""
        self.of(Cluster.objects.get_default())
        return list(self.select_related("cluster").order_by("cluster__name"))


class ClusterConnection(models.Model):
    """How the portal reaches one cluster, and what it last saw there (health, capacity, last sync).

    The cluster itself (its name, whether it is the default, the namespaces on it) is desired
    state on the ground floor (`teams.Cluster`); this is provisioning's side of it.
    """

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "Not yet synced"
        OK = "ok", "Reachable"
        UNREACHABLE = "unreachable", "Unreachable"
        ERROR = "error", "Refusing the portal"

    cluster = models.OneToOneField(Cluster, on_delete=models.CASCADE, primary_key=True, related_name="connection")
    kubeconfig_path = models.CharField(max_length=500, blank=True, help_text="Empty with in-cluster config.")
    context = models.CharField(max_length=200, blank=True, help_text="Context in the kubeconfig; empty: current.")
    in_cluster = models.BooleanField(default=False, help_text="Use the pod's service account instead of a kubeconfig.")
    #: An uploaded kubeconfig, Fernet-encrypted (provisioning.credentials); never shown again once stored.
    kubeconfig_encrypted = models.TextField(blank=True, editable=False)
    gpu_capacity = models.DecimalField(
        max_digits=16,
        decimal_places=6,
        default=Decimal(0),
        help_text="Allocatable GPU-equivalents over Ready nodes: nvidia.com/gpu, and MIG slices and shared GPUs "
        "by their weights (teams.models.GpuResource).",
    )
    ready_nodes = models.PositiveIntegerField(default=0)
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    capacity_synced_at = models.DateTimeField(null=True, blank=True)

    objects = ClusterConnectionQuerySet.as_manager()

    class Meta:
        ordering = ["cluster__name"]

    def __str__(self) -> str:
        return self.cluster.name

    @property
    def name(self) -> str:
        return self.cluster.name

    @property
    def source(self) -> str:
        """Where its credentials come from, in words safe to show anyone who may see the cluster."""
        if self.in_cluster:
            return "in-cluster (the pod's ServiceAccount)"
        if self.kubeconfig_encrypted:
            return "uploaded kubeconfig (stored encrypted)"
        return f"kubeconfig at {self.kubeconfig_path}" if self.kubeconfig_path else "default kubeconfig"


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
    #: When a holder last finished and released it: how long ago the work last ran to its end.
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (held until {self.expires_at:%H:%M:%S})"


class PendingApply(models.Model):
    """An approved request on its way to the cluster: which task message may work on it, and until when.

    One row per request being applied, from the approval (or an approver's retry) until it is
    applied or failed. Only the message carrying `token` may run it, and running it moves the
    token on, so re-sending a request (one lost with a killed worker, or one waiting out a backoff
    when its cluster is healthy again) never runs it twice, however many old messages the broker
    still delivers.
    """

    request = models.OneToOneField("teams.Request", on_delete=models.CASCADE, related_name="+")
    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    token = models.CharField(max_length=32)
    #: The first attempt since the approval or retry: the retry deadline counts from here.
    started_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    #: When the next attempt is due while the request waits out a transient error; else null.
    retry_at = models.DateTimeField(null=True, blank=True)
    #: Nothing heard of the request by then means its message was lost: it is sent again.
    due_at = models.DateTimeField()
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["due_at"]), models.Index(fields=["cluster", "retry_at"])]

    def __str__(self) -> str:
        return f"request #{self.request_id}, attempt {self.attempts}"


class QuotaRefusalQuerySet(models.QuerySet):
    def visible_to(self, user) -> "QuotaRefusalQuerySet":
        return roles.restrict_to_teams(self, user, "namespace__team")


class QuotaRefusal(models.Model):
    """Pods a namespace's quota refused to one controller (Job, ReplicaSet...), from the API server's Events.

    One row per involved object: the API server writes several FailedCreate Events for one
    object (one per refused pod name, each counting its repeats) and deletes them after an hour,
    so the counts of Events still listed are kept per Event uid (`live_counts`) and those of
    expired ones are folded into `settled_count`: the total never drops and never double counts.
    """

    cluster = models.ForeignKey(Cluster, on_delete=models.CASCADE, related_name="+")
    namespace = models.ForeignKey(TeamNamespace, on_delete=models.CASCADE, related_name="quota_refusals")
    object_kind = models.CharField(max_length=63)
    object_name = models.CharField(max_length=253)
    object_uid = models.CharField(max_length=253)
    quota_name = models.CharField(max_length=253)
    #: The quota key that ran out (the first of the message's keys whose used + requested > limited).
    resource = models.CharField(max_length=253)
    requested = models.JSONField(default=dict)
    used = models.JSONField(default=dict)
    limited = models.JSONField(default=dict)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    settled_count = models.PositiveIntegerField(default=0)
    live_counts = models.JSONField(default=dict)

    objects = QuotaRefusalQuerySet.as_manager()

    #: Rows whose last refusal is older than this are deleted by the sync.
    RETENTION = timedelta(days=30)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cluster", "namespace", "object_uid"], name="one_refusal_per_object")
        ]
        indexes = [models.Index(fields=["namespace", "-last_seen"]), models.Index(fields=["last_seen"])]
        ordering = ["-last_seen", "pk"]

    def __str__(self) -> str:
        return f"{self.object_kind} {self.object_name}: {self.resource} refused {self.count}x"

    @property
    def asked(self) -> str:
        """What the refused pod asked of the key that ran out."""
        return self.requested.get(self.resource, "")

    @property
    def used_at_refusal(self) -> str:
        return self.used.get(self.resource, "")

    @property
    def hard_at_refusal(self) -> str:
        return self.limited.get(self.resource, "")

    @property
    def suggested(self) -> str:
        """A hard limit that would have admitted the refused pod: what is used plus what was asked."""
        from teams.quantities import QuantityError, parse_quantity

        try:
            return (
                parse_quantity(self.used.get(self.resource, "0"))
                + parse_quantity(self.requested.get(self.resource, "0"))
            ).canonical()
        except QuantityError:
            return self.limited.get(self.resource, "")


class QuotaWarningQuerySet(models.QuerySet):
    def visible_to(self, user) -> "QuotaWarningQuerySet":
        return roles.restrict_to_teams(self, user, "namespace__team")


class QuotaWarning(models.Model):
    """A quota key of a namespace that crossed a warning threshold and has not fallen back below it.

    Observed state, written only by the usage sync (provisioning.quota_warnings). `level` is the
    highest threshold that holds: reached, and not since fallen below it by the margin. A key with
    no row holds none, so the table grows with the namespaces near their quota, not with all of them.
    """

    namespace = models.ForeignKey(TeamNamespace, on_delete=models.CASCADE, related_name="quota_warnings")
    quota_name = models.CharField(max_length=253)
    resource = models.CharField(max_length=253)
    level = models.PositiveSmallIntegerField(help_text="The threshold (percent of hard) that holds.")
    used = models.CharField(max_length=64, help_text="As the last sync saw it, canonical.")
    hard = models.CharField(max_length=64)
    percent = models.PositiveIntegerField(help_text="Used as a share of hard, rounded down; may pass 100.")
    warned_at = models.DateTimeField(help_text="When the level last rose, which is when the team was warned.")
    link = models.TextField(blank=True, help_text="The pre-filled quota-increase request the warning offered.")

    objects = QuotaWarningQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "quota_name", "resource"], name="one_quota_warning_per_namespace_key"
            )
        ]
        ordering = ["namespace", "quota_name", "resource"]

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.quota_name} {self.resource} at {self.percent}% (level {self.level})"
