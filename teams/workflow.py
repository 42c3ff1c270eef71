"""The one write path for a request's state.

Every transition runs in a transaction with the request row locked, refuses an illegal
starting state, and writes exactly one AuditEvent. The acting user is keyword-only;
`actor=None` means the system (a Celery worker).

    submit  ->  pending
    pending  -> approved   (approve_request, an approver who is not the requester)
    pending  -> rejected   (reject_request, an approver, with a note)
    pending  -> cancelled  (cancel_request, the requester)
    approved -> applying   (mark_applying, provisioning)
    applying -> applied    (mark_applied, provisioning)
    applying -> failed     (mark_failed, provisioning)
    failed   -> applying   (retry_request, an approver)
"""

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from teams.capacity import CapacityImpact, capacity_impact
from teams.limits import MAX_JUSTIFICATION_LENGTH, MAX_NOTE_LENGTH, check_text, text_problem
from teams.models import AuditEvent, GpuTier, Request, Team, TeamNamespace
from teams.permissions import is_lead, require_approver
from teams.policy import PolicyReport, check_request
from teams.signals import apply_requested
from teams.specs import namespace_spec

logger = logging.getLogger(__name__)

State = Request.State
Kind = Request.Kind


class InvalidTransition(Exception):
    """The request is not in a state this transition starts from."""


class CapacityExceeded(Exception):
    """Approving would guarantee more GPUs than the cluster has; an approver may override it."""

    def __init__(self, impact: CapacityImpact) -> None:
        self.impact = impact
        super().__init__(
            f"Approving would guarantee {impact.guaranteed_after} GPUs on a cluster with {impact.capacity}; "
            "confirm the override to approve anyway."
        )


def submit_request(
    *,
    actor,
    team: Team,
    kind: str,
    proposed: object,
    justification: str,
    namespace: TeamNamespace | None = None,
    namespace_name: str = "",
) -> Request:
    """Check a team lead's request against policy and store it as pending."""
    if not is_lead(actor, team):
        raise PermissionDenied(f"Only a lead of team {team.slug} can submit its requests.")
    if namespace is not None:
        namespace_name = namespace.name
    report = check_request(kind, team=team, namespace_name=namespace_name, proposed=proposed, namespace=namespace)
    check_justification(report, justification)
    report.raise_for_errors()
    with transaction.atomic():
        request = Request.objects.create(
            kind=kind,
            team=team,
            namespace=namespace,
            namespace_name=namespace_name,
            proposed_spec=report.proposed,
            warnings=[finding.as_dict() for finding in report.warnings],
            justification=justification.strip(),
            requested_by=actor,
        )
        _audit(request, actor, "request.submitted", {}, {"state": State.PENDING, "proposed": report.proposed})
    logger.info("request.submitted", extra={"request_id": request.pk, "kind": kind, "team": team.slug})
    return request


def check_justification(report: PolicyReport, justification: str, *, required: bool = True) -> None:
    """Why the team needs it, as text a database stores and an approver reads, on the pages and the API.

    Live validation passes `required=False`: an empty justification is not an error while the lead types.
    """
    if not justification.strip():
        if required:
            report.error("justification", "Say why the team needs this; approvers read it.", "required")
    elif problem := text_problem(justification, MAX_JUSTIFICATION_LENGTH):
        report.error("justification", problem, "invalid")


def approve_request(request_id: int, *, actor, note: str = "", override_capacity: bool = False) -> Request:
    """Approve: make the proposal the namespace's desired state, then ask provisioning to apply it.

    An approval that would overcommit guaranteed GPUs is refused unless the approver
    overrides it; the override is recorded in the audit event.
    """
    require_approver(actor)
    check_text("note", note, MAX_NOTE_LENGTH)

    def approve(request: Request) -> tuple[dict, dict]:
        if request.requested_by_id == actor.pk:
            raise PermissionDenied("Nobody can approve their own request; ask another approver.")
        report = check_request(
            request.kind,
            team=request.team,
            namespace_name=request.namespace_name,
            proposed=request.proposed_spec,
            namespace=request.namespace,
            request_id=request.pk,
        )
        report.raise_for_errors()
        impact = capacity_impact(request)
        if impact.overcommits and not override_capacity:
            raise CapacityExceeded(impact)
        before, after = _set_desired_state(request, report.proposed)
        after["capacity"] = {**impact.as_dict(), "overridden": impact.overcommits}
        request.reviewed_by = actor
        request.decision_note = note.strip()
        request.decided_at = timezone.now()
        return before, after

    request = _transition(request_id, actor, "request.approved", (State.PENDING,), State.APPROVED, approve)
    transaction.on_commit(lambda: apply_requested.send(sender=Request, request_id=request.pk))
    return request


def reject_request(request_id: int, *, actor, note: str) -> Request:
    require_approver(actor)
    if not (note or "").strip():
        raise ValidationError({"note": "Say why the request is rejected; the requester reads it."})
    check_text("note", note, MAX_NOTE_LENGTH)

    def reject(request: Request) -> tuple[dict, dict]:
        request.reviewed_by = actor
        request.decision_note = note.strip()
        request.decided_at = timezone.now()
        return {}, {"note": request.decision_note}

    return _transition(request_id, actor, "request.rejected", (State.PENDING,), State.REJECTED, reject)


def cancel_request(request_id: int, *, actor) -> Request:
    def cancel(request: Request) -> tuple[dict, dict]:
        if request.requested_by_id != actor.pk:
            raise PermissionDenied("Only the requester can cancel a request.")
        return {}, {}

    return _transition(request_id, actor, "request.cancelled", (State.PENDING,), State.CANCELLED, cancel)


def mark_applying(request_id: int, *, actor=None) -> Request:
    return _transition(request_id, actor, "request.applying", (State.APPROVED,), State.APPLYING)


def mark_applied(request_id: int, *, actor=None) -> Request:
    def applied(request: Request) -> tuple[dict, dict]:
        now = timezone.now()
        request.applied_at = now
        request.last_error = ""
        if request.kind == Kind.DELETE_NAMESPACE:
            TeamNamespace.objects.filter(pk=request.namespace_id).update(deleted_at=now)
        else:
            TeamNamespace.objects.filter(pk=request.namespace_id).update(last_applied_at=now)
        return {}, {}

    return _transition(request_id, actor, "request.applied", (State.APPLYING,), State.APPLIED, applied)


def mark_failed(request_id: int, *, error: str, actor=None) -> Request:
    def failed(request: Request) -> tuple[dict, dict]:
        request.last_error = error
        return {}, {"error": error}

    return _transition(request_id, actor, "request.failed", (State.APPLYING,), State.FAILED, failed)


def retry_request(request_id: int, *, actor) -> Request:
    """An approver sends a failed request back to provisioning."""
    require_approver(actor)
    request = _transition(request_id, actor, "request.retried", (State.FAILED,), State.APPLYING)
    transaction.on_commit(lambda: apply_requested.send(sender=Request, request_id=request.pk))
    return request


def _transition(
    request_id: int,
    actor,
    verb: str,
    sources: tuple[str, ...],
    target: str,
    change: Callable[[Request], tuple[dict, dict]] | None = None,
) -> Request:
    with transaction.atomic():
        request = (
            Request.objects.select_for_update(of=("self",))
            .select_related("team", "namespace", "namespace__tier")
            .get(pk=getattr(request_id, "pk", request_id))
        )
        if request.state not in sources:
            allowed = " or ".join(sources)
            raise InvalidTransition(
                f"Request #{request.pk} is {request.state}; only a {allowed} request can become {target}."
            )
        before, after = change(request) if change else ({}, {})
        previous = request.state
        request.state = target
        request.save()
        _audit(request, actor, verb, {"state": previous, **before}, {"state": target, **after})
    logger.info(verb, extra={"request_id": request.pk, "from": previous, "to": target})
    return request


def _set_desired_state(request: Request, proposed: dict) -> tuple[dict, dict]:
    """Write the approved proposal into the namespace; return its spec before and after."""
    if request.kind == Kind.CREATE_NAMESPACE:
        namespace = TeamNamespace.objects.create(
            name=request.namespace_name,
            team=request.team,
            tier=GpuTier.objects.get(slug=proposed["tier"]),
            labels=proposed.get("labels") or {},
            quotas=proposed["quotas"],
            limit_range=proposed.get("limitRange") or {},
        )
        request.namespace = namespace
        return {"spec": {}}, {"spec": namespace_spec(namespace)}
    namespace = TeamNamespace.objects.select_for_update().select_related("tier").get(pk=request.namespace_id)
    before = namespace_spec(namespace)
    if request.kind == Kind.DELETE_NAMESPACE:
        namespace.deletion_requested_at = timezone.now()
    if "tier" in proposed:
        namespace.tier = GpuTier.objects.get(slug=proposed["tier"])
    if "quotas" in proposed:
        namespace.quotas = proposed["quotas"]
    if "limitRange" in proposed:
        namespace.limit_range = proposed["limitRange"]
    namespace.save()
    return {"spec": before}, {"spec": namespace_spec(namespace)}


def _audit(request: Request, actor, verb: str, before: dict, after: dict) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        verb=verb,
        target=f"request:{request.pk}",
        request=request,
        before=before,
        after=after,
    )
