"""The one write path for a request's state.

Every transition runs in a transaction with the request row locked, refuses an illegal
starting state, and records exactly one event (teams.events). The acting user is
keyword-only and always given: provisioning acts as the system actor.

    submit  ->  pending
    pending  -> approved   (approve_request, an approver who is not the requester; in full or in part)
    pending  -> approved   (approve_by_rules, the system actor, right after submission: a live rule matched)
    propose  ->  pending   (propose_downsize, the system actor, from the daily scan of idle GPUs)
    pending  -> approved   (accept_proposal, a lead of the team, for a downsize proposal)
    pending  -> rejected   (decline_proposal, a lead of the team, with a reason, for a downsize proposal)
    pending  -> changes_requested  (request_changes, an approver, saying what to change)
    changes_requested -> pending   (resubmit_request, the requester, with a new version)
    pending, changes_requested -> rejected   (reject_request, an approver, with a note)
    pending, changes_requested -> cancelled  (cancel_request, the requester)
    approved -> applying   (mark_applying, provisioning)
    applying -> applied    (mark_applied, provisioning)
    applying -> failed     (mark_failed, provisioning)
    failed   -> applying   (retry_request, an approver)
    applying -> applying   (retry_request, an approver, once stuck: Request.is_stuck)

A request with `until` is a time-boxed grant (teams.grants): its approval records a Grant,
an extension request (submit_extension) moves the grant's end once approved, and at the end
the system actor submits and approves the reversion itself (end_grant).

Desired state written from outside a team lead's request goes through here too: an
adoption is a request submitted by an approver and approved by the system actor
(adopt_namespace), the demo's seed is recorded as the system's (seed_namespace), and a
re-apply of a namespace is asked for here (request_reconcile) and carried out by
provisioning, which subscribes to the event.
"""

import logging
from collections.abc import Callable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from teams import autoapproval, events, grants
from teams.capacity import CapacityImpact, capacity_impact, count_guaranteed
from teams.catalog import format_gpus
from teams.events import system_actor
from teams.limits import MAX_JUSTIFICATION_LENGTH, MAX_NOTE_LENGTH, check_text, required_text, text_problem
from teams.models import (
    Cluster,
    Comment,
    DownsizeProposal,
    GpuTier,
    Grant,
    Request,
    RuleEvaluation,
    Team,
    TeamNamespace,
)
from teams.policy import PolicyReport, check_namespace_spec, check_request, is_reserved_namespace, resolve_cluster
from teams.roles import can_resubmit, is_lead, require_approver
from teams.specs import SYSTEM_KINDS, grant, merge_spec, namespace_spec, spec_changes

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
            f"Approving would guarantee {format_gpus(impact.guaranteed_after)} GPUs on a cluster with "
            f"{format_gpus(impact.capacity)}; "
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
    cluster: Cluster | str | None = None,
    until: object = None,
) -> Request:
    """Check a team lead's request against policy and store it as pending; then the auto-approval rules weigh it.

    A new namespace goes to `cluster` (or the cluster of that name; the default cluster when
    None); any other kind acts on the namespace where it is. `until` makes it a time-boxed grant.
    """
    if not is_lead(actor, team):
        raise PermissionDenied(f"Only a lead of team {team.slug} can submit its requests.")
    if kind in SYSTEM_KINDS:
        raise ValidationError({"kind": "Downsize proposals come from the portal's daily scan; ask with change_quota."})
    if namespace is not None:
        namespace_name, cluster = namespace.name, namespace.cluster
    report = check_request(
        kind, team=team, namespace_name=namespace_name, proposed=proposed, namespace=namespace, cluster=cluster
    )
    check_justification(report, justification)
    until = grants.check_until(report, kind, until)
    report.raise_for_errors()
    cluster = resolve_cluster(cluster)
    with transaction.atomic():
        request = Request.objects.create(
            until=until,
            kind=kind,
            team=team,
            namespace=namespace,
            namespace_name=namespace_name,
            cluster=cluster,
            proposed_spec=report.proposed,
            changes=report.changes,
            first_changes=report.changes,
            warnings=[finding.as_dict() for finding in report.warnings],
            justification=justification.strip(),
            requested_by=actor,
        )
        _audit(request, actor, "request.submitted", {}, {"state": State.PENDING, **_proposal(request)})
    logger.info("request.submitted", extra={"portal_request_id": request.pk, "kind": kind, "team": team.slug})
    return approve_by_rules(request)


def approve_by_rules(request: Request) -> Request:
    """Weigh a freshly submitted request against the auto-approval rules; the first live match approves it.

    The system actor approves, with the rule and every condition's measured value in the audit
    row. Whatever keeps the approval from happening (the namespace changed, capacity ran out
    meanwhile) leaves the request waiting for a person, as if no rule had matched.
    """
    evaluation = autoapproval.weigh(request)
    if evaluation is None:
        return request

    def approve(request: Request) -> tuple[dict, dict]:
        before, after = _approve(request, system_actor(), note=f"Approved by rule {evaluation.rule_name}.")
        RuleEvaluation.objects.filter(pk=evaluation.pk).update(approved=True)
        rule = {"id": evaluation.rule_id, "name": evaluation.rule_name}
        return before, {**after, "rule": rule, "conditions": evaluation.conditions, "evidence": evaluation.evidence}

    try:
        return _transition(request.pk, system_actor(), "request.approved", (State.PENDING,), State.APPROVED, approve)
    except (ValidationError, CapacityExceeded, InvalidTransition) as error:
        logger.warning(
            "request.auto_approval_failed",
            extra={"portal_request_id": request.pk, "rule": evaluation.rule_name, "error": str(error)},
        )
        return request


def propose_downsize(namespace: TeamNamespace, *, proposed: dict, evidence: dict, justification: str) -> Request:
    """The system proposes fewer guaranteed GPUs for a mostly idle namespace; its team's leads accept or decline.

    `evidence` holds the DownsizeProposal's numbers (window, peak, idle GPU-hours and their cost);
    the proposal is checked by the policy like a lead's quota change.
    """
    system = system_actor()
    report = check_request(
        Kind.DOWNSIZE_QUOTA,
        team=namespace.team,
        namespace_name=namespace.name,
        proposed=proposed,
        namespace=namespace,
    )
    report.raise_for_errors()
    with transaction.atomic():
        request = _request_on(
            namespace,
            kind=Kind.DOWNSIZE_QUOTA,
            proposed_spec=report.proposed,
            changes=report.changes,
            first_changes=report.changes,
            warnings=[finding.as_dict() for finding in report.warnings],
            justification=justification,
            requested_by=system,
        )
        DownsizeProposal.objects.create(request=request, namespace=namespace, **evidence)
        shown = {key: str(value) for key, value in evidence.items()}
        _audit(request, system, "request.submitted", {}, {"state": State.PENDING, "proposed": report.proposed, **shown})
    logger.info("request.downsize_proposed", extra={"portal_request_id": request.pk, "namespace": namespace.name})
    return request


def _request_on(namespace: TeamNamespace, **fields) -> Request:
    """A request the system or a lead makes on an existing namespace: its team, name and cluster are the namespace's."""
    return Request.objects.create(
        team=namespace.team, namespace=namespace, namespace_name=namespace.name, cluster=namespace.cluster, **fields
    )


def submit_extension(grant_id: int, *, actor, until: object, justification: str) -> Request:
    """A team lead asks for a grant to last longer: a request decided like any other, changing only the end."""
    with transaction.atomic():
        grant = Grant.objects.select_for_update().select_related("namespace__team").get(pk=grant_id)
        namespace = grant.namespace
        if not is_lead(actor, namespace.team):
            raise PermissionDenied(f"Only a lead of team {namespace.team.slug} can ask to extend its grants.")
        if grant.ended_at is not None:
            raise InvalidTransition(f"The grant of request #{grant.request_id} has ended; ask for a new one.")
        report = PolicyReport()
        check_justification(report, justification)
        try:
            asked = grants.parse_until(until)
        except ValidationError as error:
            report.error("until", error.message_dict["until"][0], "invalid")
        else:
            if asked is None:
                report.error("until", "Say until when the grant should last.", "required")
            elif problem := grants.until_problem(asked, after=grant.until):
                report.error("until", problem, "invalid")
        report.raise_for_errors()
        request = _request_on(
            namespace,
            kind=Kind.CHANGE_QUOTA,
            until=asked,
            extends=grant,
            justification=justification.strip(),
            requested_by=actor,
        )
        _audit(request, actor, "request.submitted", {}, {"state": State.PENDING, **_proposal(request)})
    logger.info("request.submitted", extra={"portal_request_id": request.pk, "extends": grant.pk})
    return request


def _proposal(request: Request) -> dict:
    """What a submission's audit row says was asked: the spec, and the end of a grant or its extension."""
    proposal: dict = {"proposed": request.proposed_spec}
    if request.until is not None:
        proposal["until"] = request.until.isoformat()
    if request.extends_id is not None:
        proposal["extends_grant_of"] = request.extends.request_id
    return proposal


def accept_proposal(request_id: int, *, actor) -> Request:
    """A lead of the team accepts a downsize proposal: it is approved, and provisioning applies it like any change."""

    def accept(request: Request) -> tuple[dict, dict]:
        _require_proposal_lead(request, actor)
        before, after = _approve(request, actor, note="Accepted by the team.")
        return before, {**after, "accepted_by_team": True}

    return _transition(request_id, actor, "request.approved", (State.PENDING,), State.APPROVED, accept)


def decline_proposal(request_id: int, *, actor, note: str) -> Request:
    """A lead of the team declines a downsize proposal, saying why; no new one comes for its quiet period."""
    note = required_text("note", note, MAX_NOTE_LENGTH, "Say why the team keeps these GPUs; approvers read it.")

    def decline(request: Request) -> tuple[dict, dict]:
        _require_proposal_lead(request, actor)
        request.reviewed_by = actor
        request.decision_note = note
        request.decided_at = timezone.now()
        DownsizeProposal.objects.filter(request=request).update(declined_at=request.decided_at)
        return {}, {"note": note}

    return _transition(request_id, actor, "request.declined", (State.PENDING,), State.REJECTED, decline)


def _require_proposal_lead(request: Request, actor) -> None:
    if not is_lead(actor, request.team):
        raise PermissionDenied(f"Only a lead of team {request.team.slug} can accept or decline its proposals.")
    if request.kind != Kind.DOWNSIZE_QUOTA:
        raise InvalidTransition(f"Request #{request.pk} is no downsize proposal: nothing to accept or decline.")


def request_changes(request_id: int, *, actor, note: str) -> Request:
    """An approver sends a pending request back to its requester, saying what to change.

    "12 instead of 16?" need not be a rejection and a new request: the note opens the
    request's conversation, and the requester answers with a new version (resubmit_request).
    """
    require_approver(actor)
    note = required_text("note", note, MAX_NOTE_LENGTH, "Say what to change; the requester reads it.")

    def send_back(request: Request) -> tuple[dict, dict]:
        if request.requested_by_id == actor.pk:
            raise PermissionDenied("Nobody decides their own request; ask another approver.")
        Comment.objects.create(request=request, author=actor, body=note, revision=request.revision)
        return {}, {"note": note}

    return _transition(
        request_id, actor, "request.changes_requested", (State.PENDING,), State.CHANGES_REQUESTED, send_back
    )


def resubmit_request(
    request_id: int,
    *,
    actor,
    proposed: object,
    justification: str,
    namespace_name: str = "",
    cluster: Cluster | str | None = None,
    until: object = None,
) -> Request:
    """The requester sends a changed version back to the queue; the policy checks it as at submission.

    The request keeps its number, conversation and first version (`first_changes`), so the
    approver sees what changed since the first ask. A new namespace may change its name and
    its cluster too ("that cluster is full: ask for the other one").
    """

    def resubmit(request: Request) -> tuple[dict, dict]:
        if not can_resubmit(actor, request):
            raise PermissionDenied("Only the requester, while a lead of the team, can change this request.")
        creates = request.kind == Kind.CREATE_NAMESPACE
        name = namespace_name.strip() if creates else request.namespace_name
        where = (cluster or request.cluster) if creates else request.cluster
        report = check_request(
            request.kind,
            team=request.team,
            namespace_name=name,
            proposed=proposed,
            namespace=request.namespace,
            cluster=where,
            request_id=request.pk,
        )
        check_justification(report, justification)
        new_until = grants.check_until(report, request.kind, until)
        report.raise_for_errors()
        new = {
            "namespace_name": name,
            "cluster": resolve_cluster(where),
            "proposed_spec": report.proposed,
            "justification": justification.strip(),
            "until": new_until,
        }
        if all(getattr(request, key) == value for key, value in new.items()):
            raise ValidationError(
                {
                    "proposed_spec": "This version asks for the same as the last one: change what the approver asked "
                    "about, or answer in the conversation."
                }
            )
        before = {"revision": request.revision, **_proposal(request)}
        for key, value in new.items():
            setattr(request, key, value)
        request.changes = report.changes
        request.warnings = [finding.as_dict() for finding in report.warnings]
        request.revision += 1
        return before, {"revision": request.revision, **_proposal(request)}

    return _transition(request_id, actor, "request.resubmitted", (State.CHANGES_REQUESTED,), State.PENDING, resubmit)


def check_justification(report: PolicyReport, justification: str, *, required: bool = True) -> None:
    """Why the team needs it, as text a database stores and an approver reads, on the pages and the API.

    Live validation passes `required=False`: an empty justification is not an error while the lead types.
    """
    if not justification.strip():
        if required:
            report.error("justification", "Say why the team needs this; approvers read it.", "required")
    elif problem := text_problem(justification, MAX_JUSTIFICATION_LENGTH):
        report.error("justification", problem, "invalid")


def approve_request(
    request_id: int,
    *,
    actor,
    note: str = "",
    override_capacity: bool = False,
    granted: dict[str, str] | None = None,
    until: object = None,
) -> Request:
    """Approve: make the proposal the namespace's desired state; provisioning applies it on commit.

    `granted` approves part of what was asked (12 GPUs of 16: field name -> amount, see
    teams.specs.grant); the grant, checked by the same policy, is what the namespace gets, and
    the request keeps both. An approval that would overcommit guaranteed GPUs is refused unless
    the approver overrides it; the override is recorded in the audit event. `until` shortens a
    time-boxed grant (never lengthens it); the capacity it adds is then the grant's for that period.
    """
    require_approver(actor)
    check_text("note", note, MAX_NOTE_LENGTH)

    def approve(request: Request) -> tuple[dict, dict]:
        if request.requested_by_id == actor.pk:
            raise PermissionDenied("Nobody can approve their own request; ask another approver.")
        return _approve(request, actor, note=note, override_capacity=override_capacity, granted=granted, until=until)

    return _transition(request_id, actor, "request.approved", (State.PENDING,), State.APPROVED, approve)


def _approve(
    request: Request,
    actor,
    *,
    note: str = "",
    override_capacity: bool = False,
    granted: dict | None = None,
    until: object = None,
) -> tuple[dict, dict]:
    """Check the request again as it stands and make it the namespace's desired state: the approval itself.

    A time-boxed request records its grant (ending at `until` if the approver shortened it); an
    extension only moves its grant's end.
    """
    granted_until = grants.approved_until(request, until)
    if request.extends_id is not None:
        return _extend(request, actor, note, granted_until)
    report = _check_again(request, request.proposed_spec)
    if report.changes != request.changes:
        # The stored sections are whole: approving them now would undo what changed meanwhile.
        raise ValidationError(
            {
                "proposed_spec": "The namespace changed since this request was submitted, so approving it would "
                "undo that change; ask the team lead to submit it again."
            }
        )
    approved = report.proposed
    if granted:
        approved = _grant(request, granted)
    impact = capacity_impact(request)
    if impact.overcommits and not override_capacity:
        raise CapacityExceeded(impact)
    before, after = _set_desired_state(request, approved)
    after["capacity"] = {**impact.as_dict(), "overridden": impact.overcommits}
    if request.granted_less:
        after["granted"] = request.granted_changes
    request.reviewed_by = actor
    request.decision_note = note.strip()
    request.decided_at = timezone.now()
    if granted_until is not None:
        grant = grants.record_grant(request, before["spec"], after["spec"], granted_until, request.decided_at)
        after["capacity"]["until"] = after["grant_until"] = grant.until.isoformat()
    return before, after


def _extend(request: Request, actor, note: str, until) -> tuple[dict, dict]:
    """Approve an extension: the grant's end moves to `until`, its warnings start again; no spec changes."""
    grant = Grant.objects.select_for_update().get(pk=request.extends_id)
    if grant.ended_at is not None:
        raise InvalidTransition(f"The grant of request #{grant.request_id} has already ended; nothing to extend.")
    if problem := grants.until_problem(until, after=grant.until):
        raise ValidationError({"until": problem})
    before = {"grant_until": grant.until.isoformat()}
    grant.until, grant.ends_at, grant.warned_days = until, grants.ends_at(until), []
    grant.save(update_fields=["until", "ends_at", "warned_days"])
    request.reviewed_by = actor
    request.decision_note = note.strip()
    request.decided_at = timezone.now()
    return before, {"grant_until": until.isoformat(), "extends_grant_of": grant.request_id}


def end_grant(grant_id: int, *, now=None) -> Grant:
    """The system actor takes a grant back at its end, once: it submits and approves the reversion itself.

    Idempotent: a grant already ended is returned as it is, and the conditional update makes
    the first of two concurrent runs the only one. The reversion (teams.grants.plan_reversion)
    is a request like any other, so provisioning applies it through the same path, retries it,
    and a failure waits in the queue with the API server's message.
    """
    now = now or timezone.now()
    system = system_actor()
    with transaction.atomic():
        claimed = Grant.objects.filter(pk=grant_id, ended_at__isnull=True, ends_at__lte=now).update(ended_at=now)
        grant = Grant.objects.select_related("namespace__team", "request").get(pk=grant_id)
        if not claimed:
            return grant
        namespace = TeamNamespace.objects.select_for_update().select_related("tier", "team").get(pk=grant.namespace_id)
        if namespace.deleted_at is not None or namespace.deletion_requested_at is not None:
            plan = grants.Reversion(quotas=None)
        else:
            plan = grants.plan_reversion(grant, namespace)
        reversion = None
        if grant.creates_namespace and namespace.deletion_requested_at is None and namespace.deleted_at is None:
            reversion = _submit_reversion(grant, namespace, Kind.DELETE_NAMESPACE, {"force": False}, [], system)
        elif plan.quotas is not None:
            proposed = {"quotas": plan.quotas}
            warnings = grants.below_usage(namespace, plan.quotas)
            reversion = _submit_reversion(grant, namespace, Kind.CHANGE_QUOTA, proposed, warnings, system)
        grant.reversion = reversion
        grant.save(update_fields=["reversion"])
        events.record(
            "grant.ended",
            actor=system,
            target=namespace.audit_target,
            request=grant.request,
            before={"until": grant.until.isoformat()},
            after={
                "reversion": reversion.pk if reversion else None,
                "restored": plan.restored,
                "kept": plan.kept,
                "handed_over": plan.handed_over,
            },
        )
        if reversion is not None:
            _transition(reversion.pk, system, "request.approved", (State.PENDING,), State.APPROVED, _approve_reversion)
    logger.info("grant.ended", extra={"grant": grant.pk, "namespace": namespace.name, "reversion": grant.reversion_id})
    return grant


def _submit_reversion(grant: Grant, namespace: TeamNamespace, kind: str, proposed: dict, warnings, system) -> Request:
    if kind == Kind.DELETE_NAMESPACE:
        why = f"The time-boxed namespace of request #{grant.request_id} ended on {grant.until.isoformat()}."
    else:
        why = f"The grant of request #{grant.request_id} ended on {grant.until.isoformat()}: its amounts go back."
    changes = spec_changes(namespace_spec(namespace), merge_spec(namespace_spec(namespace), proposed))
    request = _request_on(
        namespace,
        kind=kind,
        proposed_spec=proposed,
        changes=changes,
        first_changes=changes,
        warnings=warnings,
        justification=why,
        requested_by=system,
    )
    _audit(request, system, "request.submitted", {}, {"state": State.PENDING, "proposed": proposed})
    return request


def _approve_reversion(request: Request) -> tuple[dict, dict]:
    before, after = _set_desired_state(request, request.proposed_spec)
    request.reviewed_by = request.requested_by
    request.decided_at = timezone.now()
    return before, {**after, "reverts_grant_of": request.reverted_grant.request_id}


def _check_again(request: Request, proposed: dict) -> PolicyReport:
    """The policy on `proposed` (whole sections) for this request, against its namespace as it is now."""
    report = check_request(
        request.kind,
        team=request.team,
        namespace_name=request.namespace_name,
        proposed=proposed,
        namespace=request.namespace,
        cluster=request.cluster,
        request_id=request.pk,
        resolved=True,
    )
    report.raise_for_errors()
    return report


def _grant(request: Request, amounts: dict[str, str]) -> dict:
    """Check the approver's partial grant like any proposal and keep it on the request; return its spec."""
    resolution = grant(request.proposed_spec, request.changes, amounts)
    if resolution.errors:
        raise ValidationError({field_name: message for field_name, message in resolution.errors})
    if not resolution.spec:
        return request.proposed_spec
    report = _check_again(request, resolution.spec)
    request.granted_spec = report.proposed
    request.granted_changes = report.changes
    return report.proposed


#: The states an approver may reject from and a requester may cancel from: nothing is approved yet.
UNDECIDED = (State.PENDING, State.CHANGES_REQUESTED)


def reject_request(request_id: int, *, actor, note: str) -> Request:
    require_approver(actor)
    note = required_text("note", note, MAX_NOTE_LENGTH, "Say why the request is rejected; the requester reads it.")

    def reject(request: Request) -> tuple[dict, dict]:
        request.reviewed_by = actor
        request.decision_note = note
        request.decided_at = timezone.now()
        return {}, {"note": request.decision_note}

    return _transition(request_id, actor, "request.rejected", UNDECIDED, State.REJECTED, reject)


def cancel_request(request_id: int, *, actor) -> Request:
    def cancel(request: Request) -> tuple[dict, dict]:
        if request.requested_by_id != actor.pk:
            raise PermissionDenied("Only the requester can cancel a request.")
        return {}, {}

    return _transition(request_id, actor, "request.cancelled", UNDECIDED, State.CANCELLED, cancel)


def mark_applying(request_id: int, *, actor) -> Request:
    return _transition(request_id, actor, "request.applying", (State.APPROVED,), State.APPLYING)


def mark_applied(request_id: int, *, actor) -> Request:
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


def mark_failed(request_id: int, *, error: str, actor, reason: str = Request.FailureReason.REFUSED) -> Request:
    """Provisioning gives up on a request; `reason` (Request.FailureReason) is kept in the audit event."""

    def failed(request: Request) -> tuple[dict, dict]:
        request.last_error = error
        return {}, {"error": error, "reason": str(reason)}

    return _transition(request_id, actor, "request.failed", (State.APPLYING,), State.FAILED, failed)


def retry_request(request_id: int, *, actor) -> Request:
    """An approver sends a failed request back to provisioning, or one stuck applying (Request.is_stuck)."""
    require_approver(actor)

    def retry(request: Request) -> tuple[dict, dict]:
        if request.state == State.APPLYING and not request.is_stuck():
            waited = int((timezone.now() - request.updated_at).total_seconds())
            raise InvalidTransition(
                f"Request #{request.pk} has been applying for {waited} s; it can be retried once it has been "
                f"applying for {int(request.stuck_after().total_seconds())} s."
            )
        return {}, {}

    return _transition(request_id, actor, "request.retried", (State.FAILED, State.APPLYING), State.APPLYING, retry)


def adopt_namespace(
    *, actor, team: Team, tier: GpuTier, name: str, observed: dict, cluster: Cluster | None = None
) -> Request:
    """An approver takes over a namespace the portal did not create; its spec on the cluster becomes desired state.

    The approver submits an adopt request and the system actor approves it at once (nobody
    approves their own), so the observed -> desired diff and both actors are audited like any
    other change, and the policy checks the spec as it checks a new namespace's. Provisioning
    applies it on commit, as after any approval.
    """
    require_approver(actor)
    cluster = cluster or Cluster.objects.get_default()
    if is_reserved_namespace(name):
        raise ValidationError({"name": f"{name} is reserved for the cluster; the portal never manages it."})
    if TeamNamespace.objects.live().filter(cluster=cluster, name=name).exists():
        raise ValidationError({"name": f"The portal already manages {name} on {cluster}."})
    report = check_namespace_spec(team=team, spec={**observed, "tier": tier.slug})
    report.raise_for_errors()

    def adopt(request: Request) -> tuple[dict, dict]:
        impact = capacity_impact(request)
        namespace = _save_desired(
            TeamNamespace(
                name=name,
                cluster=cluster,
                team=team,
                tier=tier,
                labels=report.proposed.get("labels") or {},
                quotas=report.proposed["quotas"],
                limit_range=report.proposed.get("limitRange") or {},
                adopted_at=timezone.now(),
            )
        )
        request.namespace = namespace
        request.reviewed_by = system
        request.decided_at = namespace.adopted_at
        return {"spec": observed}, {"spec": namespace_spec(namespace), "capacity": impact.as_dict()}

    system = system_actor()
    with transaction.atomic():
        request = Request.objects.create(
            kind=Kind.ADOPT_NAMESPACE,
            team=team,
            namespace_name=name,
            cluster=cluster,
            proposed_spec=report.proposed,
            warnings=[finding.as_dict() for finding in report.warnings],
            justification=f"Adopted from the cluster by {actor.get_username()}.",
            requested_by=actor,
        )
        _audit(request, actor, "request.submitted", {}, {"state": State.PENDING, "proposed": report.proposed})
        return _transition(request.pk, system, "request.approved", (State.PENDING,), State.APPROVED, adopt)


def seed_namespace(name: str, *, team: Team, spec: dict, cluster: Cluster | None = None) -> str:
    """Give the demo's namespace the seed's spec as the system actor: "created", "reset" or "unchanged".

    Unchanged writes nothing, so seeding twice changes no row. Nothing is applied: the seed is
    applied on purpose afterwards (`apply_namespace --all`), and tests seed without a broker.
    """
    desired = {
        "team": team,
        "tier": GpuTier.objects.get(slug=spec["tier"]),
        "labels": spec.get("labels") or {},
        "quotas": spec["quotas"],
        "limit_range": spec.get("limitRange") or {},
    }
    cluster = cluster or Cluster.objects.get_default()
    with transaction.atomic():
        namespaces = TeamNamespace.objects.live().select_for_update(of=("self",)).select_related("cluster", "tier")
        namespace = namespaces.filter(cluster=cluster, name=name).first()
        if namespace is None:
            new = TeamNamespace(name=name, cluster=cluster, **desired)
            namespace, before, outcome = _save_desired(new), {}, "created"
        elif any(getattr(namespace, key) != value for key, value in desired.items()):
            before, outcome = {"team": namespace.team.slug, **namespace_spec(namespace)}, "reset"
            for key, value in desired.items():
                setattr(namespace, key, value)
            _save_desired(namespace)
        else:
            return "unchanged"
        events.record(
            "namespace.seeded",
            actor=system_actor(),
            target=namespace.audit_target,
            before={"spec": before},
            after={"spec": {"team": team.slug, **namespace_spec(namespace)}},
        )
    return outcome


def request_reconcile(namespace_id: int, *, actor) -> TeamNamespace:
    """An approver asks for a namespace's desired state to be applied again, taking back what others changed.

    For drift, and to retry a reconcile that failed: automatic reconciles of that namespace
    resume too. Provisioning subscribes to the event and enqueues the reconcile on commit.
    """
    require_approver(actor)
    with transaction.atomic():
        namespace = (
            TeamNamespace.objects.live().select_for_update(of=("self",)).select_related("cluster").get(pk=namespace_id)
        )
        before = {"drift": namespace.drift}
        if namespace.reconcile_state == TeamNamespace.ReconcileState.FAILED:
            before["reconcile_error"] = namespace.reconcile_error
        namespace.reconcile_failed_digest = ""
        namespace.save(update_fields=["reconcile_failed_digest"])
        events.record("namespace.reapply_requested", actor=actor, target=namespace.audit_target, before=before)
    logger.info("namespace.reapply_requested", extra={"cluster": namespace.cluster.name, "namespace": namespace.name})
    return namespace


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
            .select_related("team", "cluster", "namespace", "namespace__cluster", "namespace__tier")
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
    logger.info(verb, extra={"portal_request_id": request.pk, "from": previous, "to": target})
    return request


def _set_desired_state(request: Request, proposed: dict) -> tuple[dict, dict]:
    """Write the approved proposal into the namespace; return its spec before and after."""
    if request.kind == Kind.CREATE_NAMESPACE:
        namespace = _save_desired(
            TeamNamespace(
                name=request.namespace_name,
                cluster=request.cluster,
                team=request.team,
                tier=GpuTier.objects.get(slug=proposed["tier"]),
                labels=proposed.get("labels") or {},
                quotas=proposed["quotas"],
                limit_range=proposed.get("limitRange") or {},
            )
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
    _save_desired(namespace)
    return {"spec": before}, {"spec": namespace_spec(namespace)}


def _save_desired(namespace: TeamNamespace) -> TeamNamespace:
    """Save a namespace's desired state with the guaranteed GPUs its quotas now hold."""
    count_guaranteed(namespace)
    namespace.save()
    return namespace


def _audit(request: Request, actor, verb: str, before: dict, after: dict) -> None:
    events.record(verb, actor=actor, target=f"request:{request.pk}", request=request, before=before, after=after)
