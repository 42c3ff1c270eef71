"""Time-boxed grants: a quota increase or a new namespace until a date, and what its end restores.

A request may carry `until`, the last day it is for; its approval records a Grant with the
amount each quota key had before (`baseline`). At the end of `until` (midnight after it, UTC)
the system actor takes the grant back through teams.workflow.end_grant, as a change request
it submits and approves itself, applied by provisioning like any other.

Overlapping grants, key by key (each `quotas[q].hard[k]`): every approval sets the keys it
changes, and the latest decision holds. At a grant's end, for each key it set:

1. a permanent change approved after the grant set the key too: the key keeps that value;
2. else a grant approved after it and still in force set the key: nothing changes now, and
   that later grant will restore, at its own end, what this one would have restored;
3. else the key goes back to its amount before the grant (removed if it had none).

So grants stack like layers in the order they were approved, a permanent change replaces
every layer below it, and a grant sets amounts rather than adding to them. A time-boxed
namespace is deleted at its end (without force: running pods keep it, and the failure waits
in the queue with the API server's message).
"""

import copy
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from teams import events
from teams.limits import MAX_GRANT_DAYS
from teams.models import AuditEvent, Grant, Request, TeamNamespace
from teams.policy import PolicyReport
from teams.quantities import QuantityError, parse_quantity
from teams.specs import spec_changes
from teams.usage import usage_rows

Kind = Request.Kind

#: The kinds of request that may be time-boxed: those that give a namespace more.
GRANT_KINDS = (Kind.CREATE_NAMESPACE, Kind.CHANGE_QUOTA)
#: Request states in which an approval has set the namespace's desired state.
DECIDED = (Request.State.APPROVED, Request.State.APPLYING, Request.State.APPLIED, Request.State.FAILED)

_HARD_FIELD = re.compile(r"quotas\[(?P<name>[^\]]+)\]\.hard\[(?P<key>[^\]]+)\]")


def today() -> date:
    return timezone.localdate()


def ends_at(until: date) -> datetime:
    """A grant holds through its last day: it ends at the midnight after `until`, in the portal's time zone."""
    return datetime.combine(until + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())


def parse_until(value: object) -> date | None:
    """`until` as the API and the form send it (YYYY-MM-DD, or empty for good); a ValidationError naming it."""
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValidationError({"until": "Must be a date, YYYY-MM-DD."})
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError({"until": f"Not a date: {value.strip()[:40]!r}; use YYYY-MM-DD."}) from None


def until_problem(until: date, *, after: date | None = None) -> str | None:
    """Why `until` cannot end a grant asked for today (or an extension of one ending on `after`), or None."""
    first = max(today(), after) if after else today()
    if until <= first:
        if after:
            return f"An extension must end after the grant does, on {after.isoformat()}."
        return "Must be after today: a grant lasts at least until the end of tomorrow."
    latest = today() + timedelta(days=MAX_GRANT_DAYS)
    if until > latest:
        return f"At most {MAX_GRANT_DAYS} days from today: {latest.isoformat()} at the latest."
    return None


def check_until(report: PolicyReport, kind: str, value: object) -> date | None:
    """The submission's rules for `until`, as findings in `report` (so the form puts them next to the input)."""
    try:
        until = parse_until(value)
    except ValidationError as error:
        report.error("until", error.message_dict["until"][0], "invalid")
        return None
    if until is None:
        return None
    if kind not in GRANT_KINDS:
        report.error("until", "Only a new namespace or a quota change can be time-boxed.", "not_allowed")
    elif problem := until_problem(until):
        report.error("until", problem, "invalid")
    elif kind == Kind.CHANGE_QUOTA and report.is_valid and not raises_quota(report.changes):
        message = "A time-boxed grant must raise a quota amount; a decrease is for good, leave the date empty."
        report.error("until", message, "invalid")
    return until


def raises_quota(changes: list[dict]) -> bool:
    """Whether any row adds a quota amount or raises one."""
    for row in changes:
        if not _HARD_FIELD.fullmatch(row["field"]) or row["proposed"] is None:
            continue
        if row["current"] is None:
            return True
        try:
            if parse_quantity(row["current"]) < parse_quantity(row["proposed"]):
                return True
        except QuantityError:
            continue
    return False


def approved_until(request: Request, value: object) -> date | None:
    """The end an approver grants: the one asked for, or an earlier one (an approver may shorten, never lengthen)."""
    until = parse_until(value)
    if until is None:
        return request.until
    if request.until is None:
        raise ValidationError({"until": "This request is for good; only a time-boxed request has an end to shorten."})
    if until > request.until:
        raise ValidationError(
            {"until": f"An approver may shorten a grant, not lengthen it: {request.until.isoformat()} at the latest."}
        )
    if problem := until_problem(until):
        raise ValidationError({"until": problem})
    return until


def record_grant(request: Request, before: dict, after: dict, until: date, now: datetime) -> Grant:
    """Keep what the approval of a time-boxed request gave, and what each key held before it."""
    baseline = {
        row["field"]: row["current"] for row in spec_changes(before, after) if _HARD_FIELD.fullmatch(row["field"])
    }
    return Grant.objects.create(
        request=request,
        namespace=request.namespace,
        approved_at=now,
        until=until,
        ends_at=ends_at(until),
        creates_namespace=request.kind == Kind.CREATE_NAMESPACE,
        baseline=baseline,
    )


@dataclass
class Reversion:
    """What a grant's end does: the quotas the namespace goes back to (None: nothing to take back)."""

    quotas: list[dict] | None
    restored: dict = field(default_factory=dict)
    #: Keys later decisions hold, and the later grants that now restore for this one.
    kept: list[str] = field(default_factory=list)
    handed_over: dict = field(default_factory=dict)


def plan_reversion(grant: Grant, namespace: TeamNamespace) -> Reversion:
    """Apply the order of overlapping grants (module docstring) to `grant`'s end; saves the later grants it hands to."""
    permanent = _set_by_permanent_changes(namespace, grant)
    # Grants are created by their approvals, so a later pk is a later approval, whatever the clock said.
    later = list(Grant.objects.active().select_for_update().filter(namespace=namespace, pk__gt=grant.pk).order_by("pk"))
    result = Reversion(quotas=None)
    for field_name, amount in grant.baseline.items():
        if field_name in permanent:
            result.kept.append(field_name)
            continue
        successor = next((other for other in later if field_name in other.baseline), None)
        if successor is not None:
            successor.baseline[field_name] = amount
            successor.save(update_fields=["baseline"])
            result.handed_over[field_name] = successor.request_id
            continue
        result.restored[field_name] = amount
    quotas = restore(namespace.quotas, result.restored)
    if quotas != namespace.quotas:
        result.quotas = quotas
    return result


def restore(quotas: list[dict], amounts: dict[str, str | None]) -> list[dict]:
    """`quotas` with each `quotas[q].hard[k]` of `amounts` set (or removed when None); a quota left empty goes."""
    restored = copy.deepcopy(quotas)
    by_name = {quota["name"]: quota for quota in restored}
    for field_name, amount in amounts.items():
        match = _HARD_FIELD.fullmatch(field_name)
        quota = by_name.get(match["name"])
        if quota is None:
            if amount is None:
                continue
            quota = by_name[match["name"]] = {"name": match["name"], "hard": {}}
            restored.append(quota)
        if amount is None:
            quota["hard"].pop(match["key"], None)
        else:
            quota["hard"][match["key"]] = amount
    return [quota for quota in restored if quota["hard"]]


def below_usage(namespace: TeamNamespace, quotas: list[dict]) -> list[dict]:
    """Warnings for each restored amount below what the namespace's pods use now: a quota never evicts."""
    findings = []
    for quota in quotas:
        used = ((namespace.observed_quotas or {}).get(quota["name"]) or {}).get("used") or {}
        for key, hard in quota["hard"].items():
            if key not in used:
                continue
            try:
                if parse_quantity(used[key]) <= parse_quantity(hard):
                    continue
            except QuantityError:
                continue
            findings.append(
                {
                    "field": f"quotas[{quota['name']}].hard[{key}]",
                    "message": f"Pods use {used[key]} of {key} in {quota['name']}, more than the {hard} restored: "
                    "they keep running (a quota never evicts), but new pods beyond the quota are refused "
                    "until usage falls below it.",
                    "code": "below_usage",
                    "already": False,
                }
            )
    return findings


def _set_by_permanent_changes(namespace: TeamNamespace, grant: Grant) -> set[str]:
    """The quota fields approvals for good set on `namespace` after `grant`'s, as their audit rows show them."""
    approval = AuditEvent.objects.filter(request=grant.request_id, verb="request.approved").order_by("pk")
    approved_pk = approval.values_list("pk", flat=True).first() or 0
    events = AuditEvent.objects.filter(
        verb="request.approved",
        request__namespace=namespace,
        pk__gt=approved_pk,
        request__grant__isnull=True,
        request__reverted_grant__isnull=True,
        request__extends__isnull=True,
    ).only("before", "after")
    fields: set[str] = set()
    for event in events:
        before, after = event.before.get("spec"), event.after.get("spec")
        if before is None or after is None:
            continue
        fields |= {row["field"] for row in spec_changes(before, after) if _HARD_FIELD.fullmatch(row["field"])}
    return fields


def warn_expiring(now: datetime) -> int:
    """Tell each grant's team once per GRANT_WARNING_DAYS threshold that its end is near; returns the warnings sent.

    A threshold passed while no beat ran is not sent late on its own: only the nearest due one
    is, and every threshold already behind is marked as sent.
    """
    thresholds = sorted(settings.GRANT_WARNING_DAYS)
    if not thresholds:
        return 0
    sent = 0
    due = Grant.objects.active().filter(ends_at__gt=now, ends_at__lte=now + timedelta(days=thresholds[-1]))
    for grant_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            grant = Grant.objects.select_for_update().select_related("namespace", "request").get(pk=grant_id)
            left = grant.ends_at - now
            passed = [days for days in thresholds if left <= timedelta(days=days)]
            if grant.ended_at is not None or not passed or set(passed) <= set(grant.warned_days):
                continue
            grant.warned_days = sorted(set(grant.warned_days) | set(passed))
            grant.save(update_fields=["warned_days"])
            events.record(
                "grant.expiring",
                actor=events.system_actor(),
                target=grant.namespace.audit_target,
                request=grant.request,
                after={
                    "namespace": grant.namespace.name,
                    "until": grant.until.isoformat(),
                    "days": passed[0],
                    "link": reverse("grant-extend", args=[grant.pk]),
                },
            )
            sent += 1
    return sent


def proposed_extension(grant: Grant) -> date:
    """The end an extension form offers: as long again as the grant was approved for, within the bounds."""
    length = max(grant.until - timezone.localdate(grant.approved_at), timedelta(days=1))
    return min(grant.until + length, today() + timedelta(days=MAX_GRANT_DAYS))


def extension_evidence(grant: Grant) -> str:
    """The justification an extension form starts from: what the namespace uses of what the grant gave."""
    granted = {(match["name"], match["key"]) for match in map(_HARD_FIELD.fullmatch, grant.baseline) if match}
    usage = [
        f"{row.resource} in {row.quota}: {row.used if row.used is not None else 'unknown'} used of {row.hard}"
        + (f" ({row.percent}%)" if row.percent is not None else "")
        for row in usage_rows(grant.namespace)
        if (row.quota, row.resource) in granted
    ]
    lines = [f"Extend the grant of request #{grant.request_id}, now ending after {grant.until.isoformat()}."]
    if usage:
        lines.append("Usage now of what it granted: " + "; ".join(usage) + ".")
    lines.append("Why we still need it: ")
    return "\n".join(lines)
