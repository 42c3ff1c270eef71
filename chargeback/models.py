"""The usage rolled up from raw samples, per namespace and hour, day or month, and per team and month.

Rolled-up usage is stored as exact integers of unit-seconds: milli-GPU-seconds,
millicore-seconds and byte-seconds, and plain seconds for unknown time. Dividing by
3,600 (and 1,000 or 2^30) to hours happens once, when a report is shown.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from teams import roles
from teams.models import Cluster, CostCenter, GpuTier, Team, TeamNamespace


class UsageTotalsQuerySet(models.QuerySet):
    def visible_to(self, user) -> "UsageTotalsQuerySet":
        """A team's usage is its members' to see; who may read chargeback at all is roles.can_read_chargeback."""
        return roles.restrict_to_teams(self, user, "team")


class UsageSums(models.Model):
    """What was used in one period, attributed to a tier, team, cost center and cluster."""

    tier = models.ForeignKey(GpuTier, on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="+")
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="+")
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    week = models.DateField(help_text="Monday of the day's ISO week, for weekly reports without date functions.")
    month = models.DateField(help_text="First day of the day's month.")

    gpu_reserved = models.BigIntegerField(default=0, help_text="milli-GPU-seconds held by guaranteed quotas")
    gpu_limit = models.BigIntegerField(default=0, help_text="milli-GPU-seconds, guaranteed plus burst")
    gpu_used = models.BigIntegerField(default=0, help_text="milli-GPU-seconds observed in use")
    gpu_burst = models.BigIntegerField(default=0, help_text="milli-GPU-seconds used in burst (preemptible) quotas")
    gpu_unknown = models.BigIntegerField(default=0, help_text="seconds the GPU quota was unknown")
    gpu_used_unknown = models.BigIntegerField(default=0, help_text="seconds GPU usage was unknown")
    cpu_reserved = models.BigIntegerField(default=0, help_text="millicore-seconds")
    cpu_used = models.BigIntegerField(default=0)
    cpu_burst = models.BigIntegerField(default=0)
    cpu_unknown = models.BigIntegerField(default=0)
    cpu_used_unknown = models.BigIntegerField(default=0)
    memory_reserved = models.BigIntegerField(default=0, help_text="byte-seconds")
    memory_used = models.BigIntegerField(default=0)
    memory_burst = models.BigIntegerField(default=0)
    memory_unknown = models.BigIntegerField(default=0)
    memory_used_unknown = models.BigIntegerField(default=0)

    objects = UsageTotalsQuerySet.as_manager()

    class Meta:
        abstract = True


class UsageTotals(UsageSums):
    """What one namespace used in one period, attributed to its tier, team and cost center at the time.

    `cluster` is the namespace's (it never moves), copied so that reports group, filter and
    price by cluster without joining namespaces.
    """

    namespace = models.ForeignKey(TeamNamespace, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


#: The integer columns of UsageTotals, in order.
METRICS = [
    f"{resource}_{name}"
    for resource in ("gpu", "cpu", "memory")
    for name in ("reserved", "limit", "used", "burst", "unknown", "used_unknown")
    if name != "limit" or resource == "gpu"
]


class HourlyUsage(UsageTotals):
    hour = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "hour"], name="hourlyusage_unique")]
        indexes = [models.Index(fields=["hour"]), models.Index(fields=["day"])]
        verbose_name_plural = "hourly usage"

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.hour:%Y-%m-%d %H:00}"


class DailyUsage(UsageTotals):
    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "day", "tier", "team", "cost_center"], name="dailyusage_unique"
            )
        ]
        indexes = [models.Index(fields=["day"])]
        verbose_name_plural = "daily usage"

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.day}"


class MonthlyUsage(UsageTotals):
    """A complete month of daily rows, summed: a year report reads 12 rows per namespace instead of 365.

    `day` is the month's first day (so that a rate period starting on the 1st sorts it
    like a daily row); a month with a price change inside it is read from the daily rows.
    """

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "month", "tier", "team", "cost_center"], name="monthlyusage_unique"
            )
        ]
        indexes = [models.Index(fields=["month"])]
        verbose_name_plural = "monthly usage"

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.month:%Y-%m}"


class TeamMonthlyUsage(UsageSums):
    """A team's month on one tier and cluster, billed to one cost center: its namespaces' monthly rows summed.

    Reports by cost center, team, tier or cluster read these, so a year costs 12 rows per team
    and tier, however many namespaces the teams have; only reports by namespace read
    MonthlyUsage. Written with the monthly rows they sum (chargeback.rollups.sum_months).
    """

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "month", "tier", "cost_center", "cluster"], name="teammonthlyusage_unique"
            )
        ]
        indexes = [models.Index(fields=["month"])]
        verbose_name_plural = "team monthly usage"

    def __str__(self) -> str:
        return f"{self.team_id} {self.month:%Y-%m}"


class SeriesCheckpoint(models.Model):
    """The latest value of one series at the hourly rollup's watermark, in integer units.

    Sync stores a value only when it changes, so a steady quota's last sample can be
    days old: the rollup carries it here instead of searching the raw samples for it.
    """

    namespace = models.ForeignKey(TeamNamespace, on_delete=models.CASCADE, related_name="+")
    quota_name = models.CharField(max_length=253)
    resource = models.CharField(max_length=253)
    time = models.DateTimeField()
    hard = models.BigIntegerField()
    used = models.BigIntegerField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["namespace", "quota_name", "resource"], name="seriescheckpoint_unique")
        ]

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.quota_name} {self.resource} at {self.time:%Y-%m-%d %H:%M:%S}"


class NamespaceCheckpoint(models.Model):
    """When the namespace was last sampled (any key), as of the hourly rollup's watermark."""

    namespace = models.OneToOneField(TeamNamespace, on_delete=models.CASCADE, related_name="+")
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.namespace_id} seen {self.last_seen:%Y-%m-%d %H:%M:%S}"


class RollupState(models.Model):
    """How far raw samples have been rolled up: every hour (or day, or month) before `complete_until` is final."""

    HOURLY = "hourly"
    DAILY = "daily"
    MONTHLY = "monthly"

    name = models.CharField(max_length=16, unique=True)
    complete_until = models.DateTimeField()
    #: The newest raw sample the rollup had seen: a newer one for a closed month arrived late.
    last_sample_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} until {self.complete_until:%Y-%m-%d %H:%M}"


class BillingPeriodQuerySet(models.QuerySet):
    def visible_to(self, user) -> "BillingPeriodQuerySet":
        """Whole months of every team's money: for finance and approvers only."""
        return self if roles.sees_every_team(user) else self.none()


class BillingPeriod(models.Model):
    """One calendar month of chargeback that finance closed (and perhaps reopened); a month without a row is open.

    At closing the month's report by namespace is stored as it stood (`snapshot`), with who
    closed it and when. While closed, its rollup rows are never rewritten: what arrives late
    for it is booked as UsageAdjustment rows in the first open month.
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    month = models.DateField(unique=True, help_text="First day of the month.")
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    snapshot = models.JSONField(default=dict, blank=True, help_text="The report by namespace as it was at closing.")

    objects = BillingPeriodQuerySet.as_manager()

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.state}"


class UsageAdjustment(UsageTotals):
    """What one namespace's hour in a closed month turned out to be, less what the closed report billed.

    Booked in `booked_month` (the first open month when it was found) and priced at the
    rates of the hour it corrects; `day`, `week` and `month` are that hour's. Signed.
    """

    hour = models.DateTimeField()
    booked_month = models.DateField(help_text="First day of the month whose report carries this line.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["booked_month"]), models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.namespace_id} {self.hour:%Y-%m-%d %H:00} booked in {self.booked_month:%Y-%m}"


class BudgetQuerySet(models.QuerySet):
    def visible_to(self, user) -> "BudgetQuerySet":
        """Finance and approvers see every budget; a team's people see their cost centers' and their teams'."""
        if roles.sees_every_team(user):
            return self
        if not user.is_authenticated:
            return self.none()
        teams = roles.team_ids(user)
        return self.filter(
            models.Q(team__isnull=True, cost_center__teams__in=teams) | models.Q(team__in=teams)
        ).distinct()


class Budget(models.Model):
    """What a cost center (or one of its teams) may spend per month or quarter, in GPU-hours, money, or both.

    The same budget holds for every period; chargeback.budgets forecasts each period's end
    and alerts at 80% and 100%, once per crossing.
    """

    class Period(models.TextChoices):
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"

    cost_center = models.ForeignKey(CostCenter, on_delete=models.CASCADE, related_name="budgets")
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="budgets",
        help_text="Empty: the whole cost center.",
    )
    period = models.CharField(max_length=8, choices=Period.choices, default=Period.MONTH)
    gpu_hours = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="GPU-hours reserved plus burst used."
    )
    amount = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Total cost, in the chargeback currency."
    )

    objects = BudgetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cost_center", "team", "period"], name="budget_unique_scope"),
            models.CheckConstraint(
                condition=models.Q(gpu_hours__isnull=False) | models.Q(amount__isnull=False), name="budget_has_a_limit"
            ),
            models.CheckConstraint(
                condition=(models.Q(gpu_hours__gt=0) | models.Q(gpu_hours__isnull=True))
                & (models.Q(amount__gt=0) | models.Q(amount__isnull=True)),
                name="budget_limits_positive",
            ),
        ]

    def __str__(self) -> str:
        scope = self.team.slug if self.team_id else self.cost_center.code
        return f"{scope} per {self.period}"

    def clean(self) -> None:
        if self.gpu_hours is None and self.amount is None:
            raise ValidationError({"gpu_hours": "Set GPU-hours, an amount, or both."})
        if self.team_id and self.cost_center_id and self.team.cost_center_id != self.cost_center_id:
            raise ValidationError({"team": "The team belongs to another cost center."})


class BudgetAlert(models.Model):
    """One crossing told: a budget's measure reached a threshold (actual or forecast) in one period, once."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateField()
    measure = models.CharField(max_length=16)
    basis = models.CharField(max_length=16)
    threshold = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "measure", "basis", "threshold"], name="budgetalert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.period_start} {self.measure} {self.basis} {self.threshold}%"
