"""Teams, GPU tiers, namespaces' desired state, requests and their audit trail."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from teams import limits, roles
from teams.constants import GPU_RESOURCE
from teams.thresholds import validate_thresholds

dns_label_validator = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "Use lower-case letters, digits and '-', starting and ending with a letter or digit (a DNS-1123 label).",
)


class CostCenterQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CostCenterQuerySet":
        """Those who see every team see every cost center; others the cost centers of their teams."""
        if roles.sees_every_team(user):
            return self
        return self.filter(pk__in=Team.objects.visible_to(user).values("cost_center_id"))


class CostCenter(models.Model):
    """Who pays: chargeback reports group GPU-hours by this code."""

    code = models.SlugField(max_length=32, unique=True, help_text="Finance's code, e.g. rd-001.")
    name = models.CharField(max_length=200)
    owner_contact = models.CharField(max_length=254, blank=True, help_text="E-mail or team alias of the budget owner.")

    objects = CostCenterQuerySet.as_manager()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


class GpuResourceQuerySet(models.QuerySet):
    def visible_to(self, user) -> "GpuResourceQuerySet":
        """What a GPU share is worth is part of the catalogue every signed-in user chooses from."""
        return self if user.is_authenticated else self.none()


extended_resource_validator = RegexValidator(
    r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    "Use an extended resource name with a domain, such as nvidia.com/mig-1g.10gb.",
)


class GpuResource(models.Model):
    """An extended resource that schedules a GPU or a share of one, and what a unit is worth in whole GPUs.

    MIG slices (`nvidia.com/mig-1g.10gb`) and time-sliced GPUs (`nvidia.com/gpu.shared`) are
    counted, priced and compared with capacity in GPU-equivalents: units times `weight`. The
    weight lives here, once per resource, because a slice is the same share of a GPU in every
    tier and on every node; tiers only say which resources they allow.
    """

    name = models.CharField(max_length=253, unique=True, validators=[extended_resource_validator])
    weight = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("0.000001"))],
        help_text="GPU-equivalents per unit: 1 for nvidia.com/gpu, 0.142857 (1/7 of an A100) for "
        "nvidia.com/mig-1g.10gb, 0.25 for a GPU time-sliced four ways.",
    )
    description = models.CharField(max_length=200, blank=True)

    objects = GpuResourceQuerySet.as_manager()

    class Meta:
        ordering = ["-weight", "name"]
        verbose_name = "GPU resource"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.name == GPU_RESOURCE and self.weight is not None and self.weight != 1:
            raise ValidationError({"weight": f"{GPU_RESOURCE} is the GPU-equivalent itself: its weight is 1."})


class GpuTierQuerySet(models.QuerySet):
    def visible_to(self, user) -> "GpuTierQuerySet":
        """Tiers are the catalogue every signed-in user chooses from."""
        return self if user.is_authenticated else self.none()


class GpuTier(models.Model):
    """A class of service: its PriorityClass and what a namespace may hold; its prices are Rate rows."""

    class PreemptionPolicy(models.TextChoices):
        PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority", "PreemptLowerPriority"
        NEVER = "Never", "Never"

    slug = models.SlugField(max_length=63, unique=True, validators=[dns_label_validator])
    name = models.CharField(max_length=100)
    priority_class_name = models.CharField(max_length=63, unique=True, validators=[dns_label_validator])
    priority_value = models.IntegerField(
        validators=[MinValueValidator(0)], help_text="PriorityClass value; user classes stay below 1,000,000,000."
    )
    preemption_policy = models.CharField(max_length=32, choices=PreemptionPolicy.choices)
    description = models.CharField(max_length=300, blank=True)
    allows_guaranteed_gpus = models.BooleanField(
        default=True, help_text="Off for preemptible tiers: every GPU there may be taken back."
    )
    max_guaranteed_gpus = models.PositiveIntegerField(default=0, help_text="Per namespace.")
    max_gpu_limit = models.PositiveIntegerField(default=0, help_text="Per namespace, guaranteed plus burst.")
    enforces_gpu_burst = models.BooleanField(
        default=False,
        help_text="Render limits.nvidia.com/gpu as a quota for the preemptible PriorityClass, so the burst is "
        "enforced; off, the seed's literal (unenforced) manifests are applied.",
    )
    gpu_resources = models.ManyToManyField(
        GpuResource,
        related_name="tiers",
        blank=True,
        help_text="The GPU resources a namespace of this tier may hold in its quotas (requests.<name>); "
        "any other is refused.",
    )
    default_quota_hard = models.JSONField(default=dict, blank=True, help_text="ResourceQuota hard for new namespaces.")
    default_limit_range = models.JSONField(
        default=list, blank=True, help_text="LimitRange spec.limits for new namespaces."
    )
    quota_warning_thresholds = models.CharField(
        max_length=40,
        blank=True,
        validators=[validate_thresholds],
        help_text="Percents of hard at which a namespace in this tier warns its team, e.g. 80,95; "
        "empty: the portal's default (QUOTA_WARNING_THRESHOLDS). A team's own thresholds win.",
    )
    proposes_downsizes = models.BooleanField(
        default=True,
        help_text="Off: the daily scan never proposes to shrink this tier's mostly idle guaranteed GPUs.",
    )

    objects = GpuTierQuerySet.as_manager()

    class Meta:
        ordering = ["-priority_value"]
        verbose_name = "GPU tier"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.allows_guaranteed_gpus and self.max_guaranteed_gpus:
            raise ValidationError(
                {"max_guaranteed_gpus": "A tier without guaranteed GPUs must have a maximum of 0 guaranteed GPUs."}
            )
        if self.max_guaranteed_gpus > self.max_gpu_limit:
            raise ValidationError({"max_guaranteed_gpus": "Cannot exceed the tier's maximum GPU limit."})


class ClusterQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ClusterQuerySet":
        """Every signed-in user sees which clusters exist: requests and namespaces name theirs."""
        return self if user.is_authenticated else self.none()

    def open_to(self, team: "Team") -> "ClusterQuerySet":
        """The clusters `team` may ask for namespaces on: those it is allowed, or all when none is named."""
        allowed = self.filter(teams_allowed=team)
        return allowed if allowed.exists() else self.all()

    def get_default(self) -> "Cluster":
        """The cluster namespaces go to when a request names none, and where links from before clusters point."""
        cluster = self.filter(is_default=True).first()
        if cluster is None:
            cluster, _ = self.get_or_create(name=settings.DEFAULT_CLUSTER_NAME, defaults={"is_default": True})
        return cluster


class Cluster(models.Model):
    """Which Kubernetes cluster: its identity, part of a namespace's desired state.

    Only who it is lives here, on the ground floor, because a namespace's cluster is desired
    state that requests and policy reason about. How to reach it and what was last seen there
    (its connection, health and capacity) are provisioning's: `cluster.connection`.
    """

    name = models.SlugField(
        max_length=63, unique=True, validators=[dns_label_validator], help_text="Its name in URLs, the API, metrics."
    )
    description = models.CharField(max_length=200, blank=True, help_text="What it is for, e.g. training in eu-west.")
    is_default = models.BooleanField(default=False, help_text="Where a request that names no cluster goes.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClusterQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="teams_cluster_one_default"
            )
        ]
        ordering = ["-is_default", "name"]

    def __str__(self) -> str:
        return self.name


class Resource(models.TextChoices):
    """What a rate prices, per unit-hour."""

    GPU = "gpu", "GPU"
    CPU = "cpu", "CPU core"
    MEMORY = "memory", "Memory GiB"


class Rate(models.Model):
    """The price of one unit-hour of a resource in a tier, from a date (UTC midnight) until the next rate.

    A rate with a cluster prices only that cluster's namespaces, from its day on, instead of the
    tier's general rate (one without a cluster): an inference cluster's H100s may cost more than a
    lab's A10s. Before a cluster's first rate of a tier, resource and kind, the general one applies.

    The only place a price lives. It sits on the ground floor beside GpuTier, not in
    chargeback, because the tier catalog (teams.catalog) answers "what does a GPU cost"
    for policy, capacity and the API as well as for chargeback, and teams never imports
    chargeback. A rate in effect on a day already billed is history: it is never changed
    (teams.catalog.check_rate_change); a new price is a new row from a later day.
    """

    class Kind(models.TextChoices):
        RESERVED = "reserved", "Reserved (per guaranteed unit-hour)"
        BURST = "burst", "Used beyond reserved (per unit-hour)"

    tier = models.ForeignKey(GpuTier, on_delete=models.CASCADE, related_name="rates")
    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rates",
        help_text="Only for namespaces on this cluster; empty: the tier's general rate, for every other cluster.",
    )
    resource = models.CharField(max_length=16, choices=Resource.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    effective_from = models.DateField(help_text="Applies from 00:00 UTC of this day until the next rate's day.")
    price = models.DecimalField(max_digits=14, decimal_places=6, help_text="Per GPU-hour, core-hour or GiB-hour.")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # NULLs are distinct in a unique constraint: the general rates need one of their own.
            models.UniqueConstraint(
                fields=["tier", "resource", "kind", "effective_from"],
                condition=models.Q(cluster__isnull=True),
                name="tier_rate_unique_day",
            ),
            models.UniqueConstraint(
                fields=["tier", "cluster", "resource", "kind", "effective_from"],
                condition=models.Q(cluster__isnull=False),
                name="tier_cluster_rate_unique_day",
            ),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="tier_rate_price_not_negative"),
        ]
        ordering = ["tier", "cluster", "resource", "kind", "effective_from"]

    def __str__(self) -> str:
        where = f" on {self.cluster.name}" if self.cluster_id else ""
        return f"{self.tier.slug}{where} {self.resource} {self.kind} {self.price} from {self.effective_from}"


class TeamQuerySet(models.QuerySet):
    def visible_to(self, user) -> "TeamQuerySet":
        """Approvers and finance see every team; everyone else sees the teams they belong to."""
        return roles.restrict_to_teams(self, user, "pk")

    def led_by(self, user) -> "TeamQuerySet":
        """The teams `user` may ask for namespaces and changes in."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(pk__in=roles.team_ids(user, roles.Role.LEAD))


class Team(models.Model):
    slug = models.SlugField(max_length=63, unique=True, validators=[dns_label_validator])
    name = models.CharField(max_length=200)
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="teams")
    default_tier = models.ForeignKey(GpuTier, on_delete=models.PROTECT, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")
    clusters = models.ManyToManyField(
        Cluster,
        blank=True,
        related_name="teams_allowed",
        help_text="The clusters the team may ask for namespaces on; none chosen: every cluster.",
    )
    quota_warning_thresholds = models.CharField(
        max_length=40,
        blank=True,
        validators=[validate_thresholds],
        help_text="Percents of hard at which the team's namespaces warn it, e.g. 80,95; empty: their tier's.",
    )

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    @property
    def kubernetes_group(self) -> str:
        """The group name bound to `edit` in the team's namespaces."""
        return f"gpu-portal:{self.slug}"


class MembershipQuerySet(models.QuerySet):
    def visible_to(self, user) -> "MembershipQuerySet":
        return roles.restrict_to_teams(self, user, "team")


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=roles.TEAM_ROLE_CHOICES, default=roles.Role.MEMBER)
    source = models.CharField(
        max_length=16,
        choices=roles.Source.choices,
        default=roles.Source.ADMIN,
        help_text="Sign-ins through the identity provider change only its own memberships; to keep one whatever the "
        "provider's groups say, delete it and add it again by hand.",
    )

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")]
        ordering = ["team", "role", "user"]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()} of {self.team})"


class TeamNamespaceQuerySet(models.QuerySet):
    def live(self) -> "TeamNamespaceQuerySet":
        """Namespaces the portal manages now: not yet deleted from the cluster."""
        return self.filter(deleted_at__isnull=True)

    def visible_to(self, user) -> "TeamNamespaceQuerySet":
        return roles.restrict_to_teams(self, user, "team")

    def at(self, cluster: str, name: str) -> "TeamNamespaceQuerySet":
        """The namespace `name` on the cluster named `cluster`, as URLs and the API name it."""
        return self.filter(cluster__name=cluster, name=name)

    def by_target(self, target: str) -> "TeamNamespace | None":
        """The namespace (the live one first) an audit row's target names: `namespace:<cluster>/<name>`,
        or `namespace:<name>` on the default cluster, as rows written before clusters were named say."""
        cluster_and_name = target.removeprefix("namespace:")
        cluster, _, name = cluster_and_name.rpartition("/")
        clusters = Cluster.objects.filter(name=cluster) if cluster else Cluster.objects.filter(is_default=True)
        named = self.select_related("cluster").filter(cluster__in=clusters, name=name)
        return named.order_by(models.F("deleted_at").desc(nulls_first=True), "-pk").first()


class TeamNamespace(models.Model):
    """A namespace the portal manages: its desired state, and what provisioning last observed."""

    class Phase(models.TextChoices):
        PENDING = "", "Not yet applied"
        ACTIVE = "Active", "Active"
        TERMINATING = "Terminating", "Terminating"
        MISSING = "Missing", "Missing from the cluster"

    class ReconcileState(models.TextChoices):
        NEVER = "", "Never reconciled"
        RECONCILED = "reconciled", "Reconciled"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=63, validators=[dns_label_validator])
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="namespaces")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="namespaces")
    tier = models.ForeignKey(GpuTier, on_delete=models.PROTECT, related_name="namespaces")

    # Desired state: what provisioning applies. Written only by teams.workflow.
    labels = models.JSONField(default=dict, blank=True, help_text="Extra labels beside team, cost-center, gpu-tier.")
    quotas = models.JSONField(
        default=list, blank=True, help_text="ResourceQuotas: [{name, hard, scopeSelector?}], quantities canonical."
    )
    limit_range = models.JSONField(default=dict, blank=True, help_text="LimitRange: {name, limits: [...]}, or {}.")
    guaranteed_gpus = models.DecimalField(
        max_digits=16,
        decimal_places=6,
        default=Decimal(0),
        editable=False,
        help_text="GPU-equivalents the quotas guarantee under the tier catalog's rules and weights, kept with them "
        "(teams.capacity), so the cluster's total is one SUM, not a reading of every namespace's quotas.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    deletion_requested_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    adopted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when an admin adopted a namespace the portal did not create."
    )

    # Observed state: written by provisioning.
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.PENDING, blank=True)
    observed_quotas = models.JSONField(
        default=dict, blank=True, help_text="{quota name: {hard: {...}, used: {...}}} as the cluster reports it."
    )
    is_drifted = models.BooleanField(default=False)
    drift = models.JSONField(default=dict, blank=True, help_text="Desired vs observed, where they differ.")
    last_applied_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sampled_at = models.DateTimeField(
        null=True, blank=True, help_text="When a sample of every quota key was last stored (the heartbeat)."
    )
    synced_fingerprint = models.CharField(
        max_length=32, blank=True, editable=False, help_text="What the last full sync saw; unchanged means skip."
    )
    reconcile_state = models.CharField(max_length=16, choices=ReconcileState.choices, default="", blank=True)
    reconcile_error = models.TextField(blank=True, help_text="The API server's message when reconciling last failed.")
    reconcile_failed_at = models.DateTimeField(null=True, blank=True)
    reconcile_failed_digest = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Digest of the desired objects that failed; automatic reconciles wait until they change.",
    )

    objects = TeamNamespaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"],
                condition=Q(deleted_at__isnull=True),
                name="teamnamespace_unique_live_name_per_cluster",
            )
        ]
        indexes = [
            # A cluster's guaranteed total (every queue page) as an index-only scan, not a read of every row.
            models.Index(
                fields=["cluster", "guaranteed_gpus"],
                condition=Q(deleted_at__isnull=True),
                name="teamnamespace_live_guaranteed",
            )
        ]
        ordering = ["name", "cluster"]
        verbose_name = "team namespace"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("namespace-detail", args=[self.cluster.name, self.name])

    @property
    def audit_target(self) -> str:
        """How audit rows and notifications name it: the name alone is ambiguous across clusters."""
        return f"namespace:{self.cluster.name}/{self.name}"

    @property
    def desired_labels(self) -> dict[str, str]:
        """The labels the seed puts on every ML namespace, plus the namespace's own."""
        return {
            **self.labels,
            "team": self.team.slug,
            "cost-center": self.team.cost_center.code,
            "gpu-tier": self.tier.slug,
        }


class RequestQuerySet(models.QuerySet):
    def visible_to(self, user) -> "RequestQuerySet":
        return roles.restrict_to_teams(self, user, "team")


class Request(models.Model):
    """A team lead's ask for a namespace or a change to one, and its way through approval."""

    class Kind(models.TextChoices):
        CREATE_NAMESPACE = "create_namespace", "Create namespace"
        CHANGE_QUOTA = "change_quota", "Change quota"
        CHANGE_LIMIT_RANGE = "change_limit_range", "Change LimitRange"
        CHANGE_TIER = "change_tier", "Change tier"
        DELETE_NAMESPACE = "delete_namespace", "Delete namespace"
        ADOPT_NAMESPACE = "adopt_namespace", "Adopt namespace"
        DOWNSIZE_QUOTA = "downsize_quota", "Downsize proposal"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        APPROVED = "approved", "Approved"
        APPLYING = "applying", "Applying"
        APPLIED = "applied", "Applied"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    class Change(models.TextChoices):
        """How one row of a request's changes alters the namespace."""

        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        REMOVED = "removed", "Removed"

    class FailureReason(models.TextChoices):
        """Why provisioning failed a request: the reason label of the apply-failure metric."""

        GAVE_UP = "gave_up", "The cluster kept failing until the retries ran out"
        CONFLICT = "conflict", "Another field manager owns a field"
        REFUSED = "refused", "The API server refused it"

    OPEN_STATES = (State.PENDING, State.CHANGES_REQUESTED, State.APPROVED, State.APPLYING, State.FAILED)
    TERMINAL_STATES = (State.APPLIED, State.REJECTED, State.CANCELLED)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    state = models.CharField(max_length=24, choices=State.choices, default=State.PENDING, editable=False)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="requests")
    namespace = models.ForeignKey(
        TeamNamespace, on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    namespace_name = models.CharField(max_length=63, help_text="Target namespace, also before it exists.")
    cluster = models.ForeignKey(
        Cluster, on_delete=models.PROTECT, related_name="requests", help_text="Where the namespace is, or will be."
    )
    proposed_spec = models.JSONField(
        default=dict, blank=True, help_text="The sections the request changes, each whole (teams.specs)."
    )
    changes = models.JSONField(
        default=list,
        blank=True,
        help_text="What approval changes, one row per key, computed at submission (teams.specs.spec_changes).",
    )
    first_changes = models.JSONField(
        default=list, blank=True, help_text="The changes as first submitted, kept through resubmissions."
    )
    revision = models.PositiveSmallIntegerField(default=1, help_text="1, then one more at each resubmission.")
    granted_spec = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the approver granted when it is less than asked (teams.specs.grant); empty: as asked.",
    )
    granted_changes = models.JSONField(
        default=list, blank=True, help_text="The changes the grant makes, in the shape of `changes`."
    )
    warnings = models.JSONField(default=list, blank=True, help_text="Policy warnings shown to approvers.")
    justification = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decision_note = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    until = models.DateField(
        null=True,
        blank=True,
        help_text="A time-boxed grant: the last day the namespace keeps what the request asks for (teams.grants); "
        "empty: for good.",
    )
    extends = models.ForeignKey(
        "Grant",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="extensions",
        help_text="An extension request: approving it moves this grant's end to `until` and changes nothing else.",
    )

    objects = RequestQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["state", "created_at"]), models.Index(fields=["team", "-created_at"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.namespace_name} ({self.state})"

    def is_stuck(self, now: datetime | None = None) -> bool:
        """Applying with no news for longer than PROVISIONING_STUCK_AFTER_SECONDS: an approver may send it again."""
        return self.state == self.State.APPLYING and (now or timezone.now()) - self.updated_at > self.stuck_after()

    def can_be_retried(self) -> bool:
        return self.state == self.State.FAILED or self.is_stuck()

    @staticmethod
    def stuck_after() -> timedelta:
        return timedelta(seconds=settings.PROVISIONING_STUCK_AFTER)

    @property
    def granted_less(self) -> bool:
        """The approver granted part of what was asked: the grant is what the namespace gets."""
        return bool(self.granted_spec)

    @property
    def grant_rows(self) -> list[dict]:
        """Each asked change beside what the approver granted of it (`granted`: the amount, or None if removed)."""
        granted = {row["field"]: row["proposed"] for row in self.granted_changes}
        return [{**row, "granted": granted.get(row["field"], row["current"])} for row in self.changes]

    @property
    def approved_spec(self) -> dict:
        """The sections approval puts in place: the grant if the approver countered, else the ask."""
        return self.granted_spec or self.proposed_spec

    @property
    def removed_fields(self) -> list[str]:
        """What approving would remove from the namespace; bulk approval leaves such requests alone."""
        return [row["field"] for row in self.changes if row["change"] == self.Change.REMOVED]

    @property
    def new_warnings(self) -> list[dict]:
        """The warnings this request introduces: what an approver weighs."""
        return [warning for warning in self.warnings if not warning.get("already")]

    @property
    def old_warnings(self) -> list[dict]:
        """The warnings that held of the namespace before the request as well."""
        return [warning for warning in self.warnings if warning.get("already")]


class CommentQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CommentQuerySet":
        return roles.restrict_to_teams(self, user, "request__team")


class Comment(models.Model):
    """One message in a request's conversation between its team and the approvers."""

    request = models.ForeignKey(Request, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    revision = models.PositiveSmallIntegerField(help_text="The request's revision the comment was written on.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CommentQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.author} on #{self.request_id}: {self.body[:40]}"


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AuditEventQuerySet":
        """A team sees the events of its requests; those who see every team see every event."""
        return roles.restrict_to_teams(self, user, "request__team")

    def update(self, **kwargs):
        raise TypeError("Audit events are append-only.")

    def delete(self):
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One transition or administrative act; written once, never updated or deleted."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who did it; the system actor for what no person did (workers, beat, expiries).",
    )
    verb = models.CharField(max_length=64)
    target = models.CharField(max_length=200, help_text="What was acted on, e.g. request:12 or namespace:ml-research.")
    request = models.ForeignKey(Request, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.verb} {self.target}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only.")


class GrantQuerySet(models.QuerySet):
    def visible_to(self, user) -> "GrantQuerySet":
        return roles.restrict_to_teams(self, user, "namespace__team")

    def active(self) -> "GrantQuerySet":
        """Grants still in force: not yet ended."""
        return self.filter(ended_at__isnull=True)


class Grant(models.Model):
    """What an approved time-boxed request gave, until when, and what the namespace goes back to (teams.grants).

    Written only by teams.workflow: created by the approval, moved by an approved extension,
    ended once by the system actor at `ends_at`.
    """

    request = models.OneToOneField(Request, on_delete=models.PROTECT, related_name="grant")
    namespace = models.ForeignKey(TeamNamespace, on_delete=models.PROTECT, related_name="grants")
    approved_at = models.DateTimeField(help_text="When the grant was approved: overlapping grants stack in this order.")
    until = models.DateField(help_text="The last day of the grant, as approved (or extended).")
    ends_at = models.DateTimeField(db_index=True, help_text="The end of `until` (midnight after it, UTC).")
    creates_namespace = models.BooleanField(default=False, help_text="A time-boxed namespace: deleted at the end.")
    baseline = models.JSONField(
        default=dict,
        blank=True,
        help_text="{changes field: the amount before the grant, or null if absent}: what the end restores.",
    )
    warned_days = models.JSONField(default=list, blank=True, help_text="The warnings (days before the end) sent.")
    ended_at = models.DateTimeField(null=True, blank=True)
    reversion = models.OneToOneField(
        Request,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reverted_grant",
        help_text="The system's request that took the grant back; empty when later decisions held every key.",
    )

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["ends_at", "pk"]

    def __str__(self) -> str:
        return f"grant of #{self.request_id} on {self.namespace} until {self.until}"


class AutoApprovalRuleQuerySet(models.QuerySet):
    def visible_to(self, user) -> "AutoApprovalRuleQuerySet":
        """Rules are the approvers' tool: they write them and read how they did."""
        return self if roles.can_decide(user) else self.none()


class AutoApprovalRule(models.Model):
    """Conditions under which the system approves a request without a person (teams.autoapproval).

    Rules are evaluated in `order` after the policy passed; an empty condition holds for
    every request. A dry-run rule is evaluated and recorded, but a person still decides.
    """

    class Mode(models.TextChoices):
        LIVE = "live", "Live: approves"
        DRY_RUN = "dry_run", "Dry run: records, a person decides"
        OFF = "off", "Off"

    name = models.CharField(max_length=limits.MAX_RULE_NAME_LENGTH, unique=True)
    order = models.PositiveIntegerField(
        validators=[MaxValueValidator(limits.MAX_RULE_ORDER)],
        help_text="Lower first; the first live rule that matches approves.",
    )
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.DRY_RUN)
    kind = models.CharField(
        max_length=32, choices=Request.Kind.choices, blank=True, help_text="Only requests of this kind; empty: any."
    )
    tier = models.ForeignKey(
        GpuTier, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Empty: any tier."
    )
    max_more_gpus = models.PositiveIntegerField(
        "at most this many GPUs more",
        null=True,
        blank=True,
        validators=[MaxValueValidator(limits.MAX_RULE_GPUS)],
        help_text="At most this many GPUs more (guaranteed or limit) than the namespace has.",
    )
    min_usage_percent = models.PositiveSmallIntegerField(
        "team's GPU usage at least (%)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="The team used at least this % of its guaranteed GPUs (of its GPU limit where none) over the window.",
    )
    usage_days = models.PositiveSmallIntegerField(
        "usage window (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(limits.MAX_RULE_USAGE_DAYS)],
        help_text="The usage window in days, from the rolled-up usage.",
    )
    min_headroom_percent = models.PositiveSmallIntegerField(
        "headroom after approval at least (%)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="Unguaranteed GPUs left after approval, as % of the cluster's capacity.",
    )
    max_per_team_per_month = models.PositiveIntegerField(
        "auto-approvals per team a month, at most",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(limits.MAX_RULE_PER_MONTH)],
        help_text="Auto-approvals per team in a calendar month (UTC), this rule's and others'.",
    )
    max_grant_days = models.PositiveIntegerField(
        "grant duration at most (days)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(limits.MAX_RULE_GRANT_DAYS)],
        help_text="A time-boxed request may last at most this long; ignored without an end date.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AutoApprovalRuleQuerySet.as_manager()

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = "auto-approval rule"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if problem := limits.text_problem(self.name or "", limits.MAX_RULE_NAME_LENGTH):
            raise ValidationError({"name": problem})
        if (self.min_usage_percent is None) != (self.usage_days is None):
            field_name = "usage_days" if self.usage_days is None else "min_usage_percent"
            raise ValidationError({field_name: "Set the usage percent and its window in days together, or neither."})
        if self.kind == Request.Kind.DOWNSIZE_QUOTA:
            raise ValidationError({"kind": "Downsize proposals are accepted by the team, never by a rule."})


class RuleEvaluationQuerySet(models.QuerySet):
    def visible_to(self, user) -> "RuleEvaluationQuerySet":
        return roles.restrict_to_teams(self, user, "request__team")


class RuleEvaluation(models.Model):
    """One rule weighed against one request at submission: every condition's measured value, and the outcome."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="rule_evaluations")
    rule = models.ForeignKey(AutoApprovalRule, on_delete=models.CASCADE, related_name="evaluations")
    rule_name = models.CharField(max_length=100, help_text="The rule's name then.")
    mode = models.CharField(max_length=16, choices=AutoApprovalRule.Mode.choices)
    matched = models.BooleanField()
    approved = models.BooleanField(default=False, help_text="This evaluation approved the request.")
    conditions = models.JSONField(default=list, help_text="[{name, held, text}] in the rule's order of conditions.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RuleEvaluationQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.rule_name} on #{self.request_id}: {'match' if self.matched else 'no match'}"

    @property
    def held_count(self) -> int:
        return sum(1 for condition in self.conditions if condition["held"])

    @property
    def failed(self) -> list[dict]:
        return [condition for condition in self.conditions if not condition["held"]]

    @property
    def evidence(self) -> str:
        """Every condition's measured value, as the audit row and the pages say it."""
        return "; ".join(condition["text"] for condition in self.conditions)


class DownsizeProposalQuerySet(models.QuerySet):
    def visible_to(self, user) -> "DownsizeProposalQuerySet":
        return roles.restrict_to_teams(self, user, "request__team")


class DownsizeProposal(models.Model):
    """The evidence behind a downsize request the system proposed: what the namespace held and used."""

    request = models.OneToOneField(Request, on_delete=models.CASCADE, related_name="downsize")
    namespace = models.ForeignKey(TeamNamespace, on_delete=models.CASCADE, related_name="downsize_proposals")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    guaranteed_gpus = models.PositiveIntegerField(help_text="Guaranteed GPUs when proposed.")
    peak_used_gpus = models.DecimalField(max_digits=12, decimal_places=3, help_text="Highest hourly mean used.")
    proposed_gpus = models.PositiveIntegerField()
    idle_gpu_hours = models.DecimalField(max_digits=16, decimal_places=3)
    idle_cost = models.DecimalField(max_digits=16, decimal_places=2)
    declined_at = models.DateTimeField(null=True, blank=True)

    objects = DownsizeProposalQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["namespace", "declined_at"])]

    def __str__(self) -> str:
        return f"{self.namespace} {self.guaranteed_gpus} -> {self.proposed_gpus} GPUs"

    @property
    def freed_gpus(self) -> int:
        return self.guaranteed_gpus - self.proposed_gpus
