"""Evidence-based auto-approval: the rules' conditions, measured for one request, in one place.

After the policy passed, `weigh(request)` measures every enabled rule's conditions and stores
one RuleEvaluation per rule; the workflow approves as the system actor with the first live
rule that matched (teams.workflow.submit_request). Usage comes from chargeback's rollups,
which teams must not import: chargeback registers a provider here in its AppConfig.ready().
"""

import calendar
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from teams import events, grants
from teams.capacity import CapacityTotals
from teams.catalog import TierCatalog, format_gpus
from teams.events import SYSTEM_USERNAME
from teams.models import AutoApprovalRule, Request, RuleEvaluation
from teams.roles import require_approver
from teams.specs import merge_spec, namespace_spec

Mode = AutoApprovalRule.Mode
State = Request.State

#: (team id, since, until) -> (GPU used, GPU hard) integrated over that time, in any one unit; None if unknown.
UsageProvider = Callable[[int, datetime, datetime], tuple[int, int] | None]
_usage_provider: UsageProvider | None = None

#: What an approver sets on a rule, in the form and the API alike.
RULE_FIELDS = [
    "name",
    "order",
    "mode",
    "kind",
    "tier",
    "max_more_gpus",
    "min_usage_percent",
    "usage_days",
    "min_headroom_percent",
    "max_per_team_per_month",
    "max_grant_days",
]

#: A person's approval: the request went on to be applied, or is on its way.
APPROVED_STATES = (State.APPROVED, State.APPLYING, State.APPLIED, State.FAILED)


def register_usage_provider(provider: UsageProvider) -> None:
    global _usage_provider
    _usage_provider = provider


@dataclass(frozen=True)
class Condition:
    """One condition of a rule as measured: whether it held, and the sentence that says so with the numbers."""

    name: str
    held: bool
    text: str


def percent(part: int | Decimal, whole: int | Decimal) -> Decimal:
    return Decimal(part) * 100 / Decimal(whole)


def shown(value: Decimal) -> str:
    """A percentage as pages and the audit say it: whole, rounded down, so that "79%" is never at least 80%."""
    return f"{value.quantize(Decimal(1), rounding=ROUND_FLOOR)}%"


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def grant_days(request: Request, now: datetime) -> int | None:
    """How many days from now a time-boxed request lasts, to the end of its last day (teams.grants), rounded up;
    None for a request that is for good."""
    if request.until is None:
        return None
    return math.ceil((grants.ends_at(request.until) - now) / timedelta(days=1))


class Measurements:
    """What the conditions read about one request, each measured once however many rules ask."""

    def __init__(self, request: Request, now: datetime) -> None:
        self.request = request
        self.now = now
        self.catalog = TierCatalog.load()
        self.impact = CapacityTotals().impact(request)
        namespace = request.namespace
        current = namespace_spec(namespace) if namespace is not None else {}
        after = merge_spec(current, request.proposed_spec) if request.kind != Request.Kind.DELETE_NAMESPACE else {}
        self.tier_after = after.get("tier") or current.get("tier") or ""
        before_gpus = self._allocation(current)
        after_gpus = self._allocation(after)
        self.more_gpus = max(after_gpus[0] - before_gpus[0], after_gpus[1] - before_gpus[1], 0)
        self._usage: dict[int, Decimal | None] = {}
        self._auto_approved_this_month: int | None = None

    def _allocation(self, spec: dict) -> tuple[Decimal, Decimal]:
        tier = self.catalog.by_slug.get(spec.get("tier"))
        if tier is None:
            return Decimal(0), Decimal(0)
        allocation = self.catalog.gpu_allocation(spec.get("quotas") or [], tier)
        return allocation.guaranteed, allocation.limit

    def usage_percent(self, days: int) -> Decimal | None:
        """The team's GPU used as a percent of its GPU hard over the last `days` days of rolled-up usage."""
        if days not in self._usage:
            totals = (
                _usage_provider(self.request.team_id, self.now - timedelta(days=days), self.now)
                if (_usage_provider)
                else None
            )
            self._usage[days] = percent(*totals) if totals and totals[1] else None
        return self._usage[days]

    def headroom_percent(self) -> Decimal | None:
        """Capacity no namespace is guaranteed once approved, as a percent of capacity."""
        capacity = self.impact.capacity
        if not capacity:
            return None
        return percent(capacity - self.impact.guaranteed_after, capacity)

    def auto_approved_this_month(self) -> int:
        if self._auto_approved_this_month is None:
            self._auto_approved_this_month = RuleEvaluation.objects.filter(
                approved=True, request__team_id=self.request.team_id, created_at__gte=month_start(self.now)
            ).count()
        return self._auto_approved_this_month


def measure(rule: AutoApprovalRule, facts: Measurements) -> list[Condition]:
    """Each condition the rule sets, measured against the request; an unset condition is not listed."""
    request = facts.request
    conditions = []
    if rule.kind:
        kind = Request.Kind(request.kind).label
        held = request.kind == rule.kind
        wanted = Request.Kind(rule.kind).label
        conditions.append(Condition("kind", held, f"kind {kind}" if held else f"kind {kind}, not {wanted}"))
    if rule.tier_id is not None:
        held = facts.tier_after == rule.tier.slug
        text = f"tier {facts.tier_after}" if held else f"tier {facts.tier_after or 'none'}, not {rule.tier.slug}"
        conditions.append(Condition("tier", held, text))
    if rule.max_more_gpus is not None:
        held = facts.more_gpus <= rule.max_more_gpus
        sign = "≤" if held else ">"
        text = f"{format_gpus(facts.more_gpus)} GPUs more {sign} {rule.max_more_gpus}"
        conditions.append(Condition("max_more_gpus", held, text))
    if rule.min_usage_percent is not None and rule.usage_days:
        usage = facts.usage_percent(rule.usage_days)
        window = f"over {rule.usage_days} days"
        if usage is None:
            conditions.append(Condition("min_usage_percent", False, f"usage unknown {window}: nothing rolled up"))
        else:
            held = usage >= rule.min_usage_percent
            sign = "≥" if held else "<"
            text = f"usage {shown(usage)} {sign} {rule.min_usage_percent}% {window}"
            conditions.append(Condition("min_usage_percent", held, text))
    if rule.min_headroom_percent is not None:
        headroom = facts.headroom_percent()
        if headroom is None:
            conditions.append(Condition("min_headroom_percent", False, "headroom unknown: capacity not synced yet"))
        else:
            held = headroom >= rule.min_headroom_percent
            sign = "≥" if held else "<"
            text = f"headroom after {shown(headroom)} {sign} {rule.min_headroom_percent}%"
            conditions.append(Condition("min_headroom_percent", held, text))
    if rule.max_per_team_per_month is not None:
        count = facts.auto_approved_this_month()
        held = count < rule.max_per_team_per_month
        month = calendar.month_name[facts.now.month]
        text = f"{count} auto-approval{'' if count == 1 else 's'} for {request.team.slug} in {month}, " + (
            f"fewer than {rule.max_per_team_per_month}" if held else f"the most is {rule.max_per_team_per_month}"
        )
        conditions.append(Condition("max_per_team_per_month", held, text))
    if rule.max_grant_days is not None:
        days = grant_days(request, facts.now)
        if days is None:
            conditions.append(Condition("max_grant_days", True, "no end date: grant duration not limited"))
        else:
            held = days <= rule.max_grant_days
            sign = "≤" if held else ">"
            conditions.append(Condition("max_grant_days", held, f"grant {days} days {sign} {rule.max_grant_days}"))
    return conditions


def weigh(request: Request, *, now: datetime | None = None) -> RuleEvaluation | None:
    """Evaluate every rule that is not off, store each outcome; return the first live match, if any."""
    rules = list(AutoApprovalRule.objects.exclude(mode=Mode.OFF).select_related("tier"))
    if not rules:
        return None
    facts = Measurements(request, now or timezone.now())
    evaluations = []
    for rule in rules:
        conditions = measure(rule, facts)
        evaluations.append(
            RuleEvaluation(
                request=request,
                rule=rule,
                rule_name=rule.name,
                mode=rule.mode,
                matched=all(condition.held for condition in conditions),
                conditions=[asdict(condition) for condition in conditions],
            )
        )
    with transaction.atomic():
        RuleEvaluation.objects.bulk_create(evaluations)
    return next((item for item in evaluations if item.matched and item.mode == Mode.LIVE), None)


def closest(evaluations: list[RuleEvaluation]) -> RuleEvaluation | None:
    """Of a request's evaluations that did not approve it, the one with the most of its conditions held."""
    candidates = [item for item in evaluations if not item.approved]
    if not candidates:
        return None
    return max(candidates, key=lambda item: (item.held_count / max(len(item.conditions), 1), -item.rule.order))


@dataclass(frozen=True)
class Agreement:
    """How a rule's verdicts compare with what people decided on the same requests."""

    rule: AutoApprovalRule
    decided: int
    agreed: int

    @property
    def percent(self) -> int | None:
        return int(self.agreed * 100 / self.decided) if self.decided else None


def agreements() -> list[Agreement]:
    """For every rule not off: of the requests it was weighed on that a person approved or rejected, how many
    it would have decided alike (match and approved, or no match and rejected)."""
    person_decided = (Q(request__state__in=APPROVED_STATES) | Q(request__state=State.REJECTED)) & ~Q(
        request__reviewed_by__username=SYSTEM_USERNAME
    )
    agreed = (Q(matched=True) & Q(request__state__in=APPROVED_STATES)) | (
        Q(matched=False) & Q(request__state=State.REJECTED)
    )
    counts = {
        row["rule_id"]: row
        for row in RuleEvaluation.objects.filter(person_decided, approved=False)
        .values("rule_id")
        .annotate(decided=Count("pk"), agreed=Count("pk", filter=agreed))
        .order_by()
    }
    return [
        Agreement(rule, counts.get(rule.pk, {}).get("decided", 0), counts.get(rule.pk, {}).get("agreed", 0))
        for rule in AutoApprovalRule.objects.exclude(mode=Mode.OFF)
    ]


def rule_values(rule: AutoApprovalRule) -> dict:
    return {name: getattr(rule, f"{name}_id" if name == "tier" else name) for name in RULE_FIELDS}


def save_rule(rule: AutoApprovalRule, *, actor, before: dict | None = None) -> AutoApprovalRule:
    """Store an approver's new or changed rule, validated (full_clean) by the caller's form or serializer; audited."""
    require_approver(actor)
    verb = "autoapproval_rule.changed" if rule.pk else "autoapproval_rule.created"
    with transaction.atomic():
        rule.save()
        events.record(verb, actor=actor, target=f"autoapproval-rule:{rule.pk}", before=before, after=rule_values(rule))
    return rule
