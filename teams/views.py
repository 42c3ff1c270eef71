"""Pages for team leads, members and approvers. Thin: rules live in policy and roles, changes in workflow.

Every object a page shows comes through its manager's visible_to(user): another team's
request is a 404, as if it did not exist; one the user sees but may not act on is a 403.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_POST

from teams import autoapproval, conversation, grants, roles, workflow
from teams.capacity import CapacityTotals, budget_impacts, capacity_impact, cluster_status
from teams.forms import build_form, lead_teams, resolve_target, revision_data
from teams.models import AuditEvent, Cluster, GpuTier, Grant, Request, Team, TeamNamespace
from teams.policy import PolicyError, check_request
from teams.specs import grantable, since_first
from teams.usage import usage_rows

Kind = Request.Kind
State = Request.State
RECENT_REQUESTS = 10
#: Pending requests per queue page: each row is most of the page's time, so the page is bounded
#: by this, not by the queue's length (BENCHMARKS.md, Load).
QUEUE_PAGE_SIZE = 20
#: Namespace cards per dashboard page: a lead of 50 namespaces waited for all 50 usage tables.
DASHBOARD_PAGE_SIZE = 12
#: The prefix of the approve form's inputs for amounts granted in part: `grant|<field of a changes row>`.
GRANT = "grant|"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Everyone lands on what matters to them."""
    if roles.can_decide(request.user):
        return redirect("queue")
    if roles.can_read_chargeback(request.user) and not roles.team_ids(request.user).exists():
        return redirect("chargeback:report")
    return redirect("dashboard")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    # Across clusters, deliberately: a team's namespaces, wherever they are, each card naming its cluster.
    namespaces = TeamNamespace.objects.visible_to(request.user).live()
    page = Paginator(
        namespaces.select_related("cluster", "team__cost_center", "tier").order_by("name", "cluster__name", "pk"),
        DASHBOARD_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    totals = CapacityTotals()
    # order_by(): the default ordering would join clusters and put its columns in the DISTINCT.
    shown_clusters = set(namespaces.order_by().values_list("cluster_id", flat=True).distinct())
    visible_requests = Request.objects.visible_to(request.user)
    # The columns the table shows, not whole requests with their specs and diffs: most of the query's cost was those.
    shown = visible_requests.select_related("team", "requested_by").only(
        "kind", "state", "namespace_name", "created_at", "team__name", "requested_by__username"
    )
    recent = list(shown.filter(state__in=Request.OPEN_STATES).order_by("-created_at")[:RECENT_REQUESTS])
    recent += list(shown.exclude(state__in=Request.OPEN_STATES).order_by("-created_at")[:RECENT_REQUESTS])
    failing = set(visible_requests.filter(state=State.FAILED).values_list("namespace_id", flat=True))
    led = {team.pk for team in lead_teams(request.user)}
    return render(
        request,
        "teams/dashboard.html",
        {
            "rows": [
                (
                    namespace,
                    usage_rows(namespace),
                    namespace.team_id in led,
                    namespace.pk in failing,
                    totals.of(namespace.cluster_id).status,
                )
                for namespace in page.object_list
            ],
            "page": page,
            # Everyone sees the clusters their namespaces are on; approvers and finance see every one.
            "clusters": [
                row for row in totals.rows if row.cluster.pk in shown_clusters or roles.can_see_clusters(request.user)
            ],
            "requests": recent,
            "sent_back": [
                item
                for item in recent
                if item.state == State.CHANGES_REQUESTED and item.requested_by_id == request.user.pk
            ],
            "led_teams": led,
            "kinds": Kind,
        },
    )


@login_required
def namespace_usage(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    """A namespace's usage table, polled by the pages that show it so they follow each sync."""
    namespaces = TeamNamespace.objects.visible_to(request.user).live().select_related("cluster")
    namespace = get_object_or_404(namespaces.at(cluster, name))
    context = {"namespace": namespace, "usage": usage_rows(namespace), "status": cluster_status(namespace.cluster_id)}
    return render(request, "teams/partials/usage_live.html", context)


@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    requests = Request.objects.visible_to(request.user).select_related("team", "requested_by", "reviewed_by")
    state = request.GET.get("state", "")
    if state in State.values:
        requests = requests.filter(state=state)
    if request.GET.get("mine"):
        requests = requests.filter(requested_by=request.user)
    return render(
        request,
        "teams/request_list.html",
        {"requests": requests.order_by("-created_at")[:500], "states": State.choices, "state": state},
    )


@login_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    item = _visible_request(request, pk)
    if request.htmx and request.htmx.target == "state":  # the state polling until the request settles
        context = {"item": item, "open_states": Request.OPEN_STATES}
        return render(request, "teams/partials/request_state_live.html", context)
    events = AuditEvent.objects.visible_to(request.user).filter(request=item).select_related("actor")
    own = item.requested_by_id == request.user.pk
    can_decide = item.state == State.PENDING and roles.can_decide(request.user) and not own
    evaluations = list(item.rule_evaluations.select_related("rule"))
    return render(
        request,
        "teams/request_detail.html",
        {
            "item": item,
            "open_states": Request.OPEN_STATES,
            "events": events,
            "comments": item.comments.select_related("author"),
            "diff": item.changes,
            "since_first": since_first(item.first_changes, item.changes) if item.revision > 1 else [],
            "grantable": grantable(item.changes) if can_decide else [],
            "can_cancel": item.state in workflow.UNDECIDED and roles.can_cancel(request.user, item),
            "can_edit": item.state == State.CHANGES_REQUESTED and roles.can_resubmit(request.user, item),
            "can_decide": can_decide,
            "can_comment": roles.can_comment(request.user, item),
            "can_retry": item.can_be_retried() and roles.can_decide(request.user),
            "grant": Grant.objects.filter(request=item).select_related("reversion").first(),
            "reverts": Grant.objects.filter(reversion=item).first(),
            "can_extend": roles.is_lead(request.user, item.team),
            "evaluations": evaluations,
            "approved_by": next((evaluation for evaluation in evaluations if evaluation.approved), None),
            "closest": autoapproval.closest(evaluations),
            "can_answer": item.state == State.PENDING
            and item.kind == Kind.DOWNSIZE_QUOTA
            and roles.is_lead(request.user, item.team),
            "currency": settings.CHARGEBACK_CURRENCY,
        },
    )


@login_required
@require_POST
def request_comment(request: HttpRequest, pk: int) -> HttpResponse:
    item = _visible_request(request, pk)
    try:
        conversation.add_comment(item, actor=request.user, body=request.POST.get("body", ""))
    except ValidationError as error:
        messages.error(request, f"The comment was not added: {_describe(error)}")
    return redirect(reverse("request-detail", args=[item.pk]) + "#conversation")


def _visible_request(request: HttpRequest, pk: int) -> Request:
    """The request `pk` if the user may see it; 404 alike for another team's and for none at all."""
    return get_object_or_404(
        Request.objects.visible_to(request.user).select_related(
            "team__cost_center", "namespace__tier", "requested_by", "reviewed_by"
        ),
        pk=pk,
    )


@login_required
def request_new(request: HttpRequest, kind: str) -> HttpResponse:
    posted = request.method == "POST"
    team, namespace = resolve_target(request.user, kind, request.POST if posted else request.GET)
    return _request_form(request, kind, team, namespace)


@login_required
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The requester changes a request an approver sent back, in the same form, and sends it again."""
    item = _visible_request(request, pk)
    if not roles.can_resubmit(request.user, item):
        raise PermissionDenied("Only the person who asked, while a lead of the team, may change this request.")
    if item.state != State.CHANGES_REQUESTED:
        messages.error(
            request, f"Request #{item.pk} is {item.get_state_display().lower()}: there is nothing to change."
        )
        return redirect("request-detail", pk=item.pk)
    return _request_form(request, item.kind, item.team, item.namespace, revising=item)


def _request_form(
    request: HttpRequest, kind: str, team: Team, namespace: TeamNamespace | None, revising: Request | None = None
) -> HttpResponse:
    """The request form: a new request, or the next version of one sent back for changes (`revising`)."""
    posted = request.method == "POST"
    source = request.POST if posted else request.GET
    if posted:
        data = source
    elif revising is not None and not source.get("tier"):
        data = revision_data(revising)
    else:
        data = _prefill(source)
    form = build_form(kind, team=team, namespace=namespace, data=data, posted=posted)
    context = _form_context(form, team, namespace, request.user, revising)
    if posted:
        name = form.name.value.strip() if form.name else ""
        try:
            if revising is None:
                sent = workflow.submit_request(
                    actor=request.user,
                    team=team,
                    kind=kind,
                    namespace=namespace,
                    namespace_name=name,
                    cluster=form.cluster.value if form.cluster else None,
                    proposed=form.proposed(),
                    justification=form.justification.value,
                    until=form.until.value if form.until else None,
                )
            else:
                sent = workflow.resubmit_request(
                    revising.pk,
                    actor=request.user,
                    proposed=form.proposed(),
                    justification=form.justification.value,
                    namespace_name=name,
                    cluster=form.cluster.value if form.cluster else None,
                    until=form.until.value if form.until else None,
                )
        except PolicyError as error:
            form.annotate(error.report)
            messages.error(request, "The request was not sent: fix the fields marked below.")
            return render(request, "teams/request_form.html", {**context, "not_sent": True}, status=400)
        except (ValidationError, workflow.InvalidTransition) as error:
            messages.error(request, f"The request was not sent: {_describe(error)}")
            return render(request, "teams/request_form.html", {**context, "not_sent": True}, status=400)
        verb = "sent to the approvers" if revising is None else f"sent again as version {sent.revision}"
        messages.success(request, f"Request #{sent.pk} {verb}.")
        return redirect("request-detail", pk=sent.pk)
    if kind in (Kind.CHANGE_QUOTA, Kind.CHANGE_LIMIT_RANGE):
        # Show what the current spec already earns (e.g. the unenforced GPU limit) before any edit;
        # that nothing has changed yet is no finding until the lead submits.
        report = check_request(
            kind,
            team=team,
            namespace_name=namespace.name,
            proposed=form.proposed(),
            namespace=namespace,
            request_id=revising.pk if revising else None,
        )
        report.errors = [finding for finding in report.errors if finding.code != "nothing_to_change"]
        form.annotate(report)
    if request.htmx and request.GET.get("tier"):
        return render(request, "teams/partials/request_fields.html", context)
    return render(request, "teams/request_form.html", context)


@login_required
@require_POST
def request_validate(request: HttpRequest, kind: str) -> HttpResponse:
    """Live validation as the lead types: the same policy, errors next to each field."""
    team, namespace = resolve_target(request.user, kind, request.POST)
    form = build_form(kind, team=team, namespace=namespace, data=request.POST, posted=True)
    revising = _revising(request)
    report = check_request(
        kind,
        team=team,
        namespace_name=form.name.value.strip() if form.name else (namespace.name if namespace else ""),
        proposed=form.proposed(),
        namespace=namespace,
        cluster=form.cluster.value if form.cluster else None,
        request_id=revising.pk if revising else None,
    )
    workflow.check_justification(report, form.justification.value, required=False)
    grants.check_until(report, kind, form.until.value if form.until else None)
    form.annotate(report)
    context = _form_context(form, team, namespace, request.user, revising)
    return render(request, "teams/partials/request_validation.html", context)


def _revising(request: HttpRequest) -> Request | None:
    """The user's own request that the posted form is the next version of, if any: it is no
    competitor for its own namespace name."""
    value = request.POST.get("revising", "")
    if not _is_request_id(value):
        return None
    return Request.objects.visible_to(request.user).filter(pk=int(value), requested_by=request.user).first()


#: What a GET may carry into a fresh form: the tier choice, and what the lead typed before changing it.
#: Quotas and limits come from the chosen tier's defaults, which is why the tier is being changed.
PREFILLED = ("tier", "cluster", "namespace_name", "justification", "until")


def _prefill(data) -> dict:
    """A GET chooses the tier, keeps the name and justification typed before the tier changed, and
    may pre-fill quota values (`quota|<index>|<key>`, e.g. from a page's "ask for more" link). Nothing
    is stored before a POST, where the policy checks every value."""
    prefill = {key: data[key] for key in PREFILLED if data.get(key)}
    prefill.update({key: data[key] for key in data if key.startswith("quota|")})
    return prefill


def _form_context(form, team: Team, namespace: TeamNamespace | None, user, revising: Request | None = None) -> dict:
    # A new namespace's request keeps its team through its versions.
    creates = form.kind == Kind.CREATE_NAMESPACE
    choices = ([team] if revising else lead_teams(user)) if creates else []
    return {
        "clusters": _cluster_choices(team) if creates else [],
        "form": form,
        "team": team,
        "namespace": namespace,
        "kind_label": Kind(form.kind).label,
        "tiers": GpuTier.objects.visible_to(user),
        "teams": choices,
        "diff": form.changes(),
        "revising": revising,
    }


def _cluster_choices(team: Team) -> list:
    """The clusters the team may ask for, each with the guaranteed GPUs still free on it."""
    totals = CapacityTotals()
    return [totals.of(pk) for pk in Cluster.objects.open_to(team).values_list("pk", flat=True)]


@login_required
def request_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """A GET asks to confirm (no script needed); the POST from that page cancels."""
    item = _visible_request(request, pk)
    if request.method != "POST":
        if not roles.can_cancel(request.user, item):
            raise PermissionDenied("Only the person who asked may cancel this request.")
        return render(request, "teams/request_cancel.html", {"item": item})
    try:
        workflow.cancel_request(item.pk, actor=request.user)
    except workflow.InvalidTransition as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Request #{item.pk} cancelled.")
    return redirect("request-detail", pk=item.pk)


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    """Pending requests, oldest first, with what each would do to the cluster's guaranteed GPUs."""
    roles.require_approver(request.user)
    pending = (
        Request.objects.visible_to(request.user)
        .filter(state=State.PENDING)
        .select_related("team", "namespace", "requested_by", "downsize", "extends")
        .order_by("created_at", "pk")  # pk: pages never share or skip a request submitted in the same instant
    )
    filters = {key: request.GET.get(key, "") for key in ("team", "cluster", "tier", "kind")}
    if filters["team"]:
        pending = pending.filter(team__slug=filters["team"])
    if filters["cluster"]:
        pending = pending.filter(cluster__name=filters["cluster"])
    if filters["kind"] in Kind.values:
        pending = pending.filter(kind=filters["kind"])
    if filters["tier"]:
        pending = pending.filter(Q(namespace__tier__slug=filters["tier"]) | Q(proposed_spec__tier=filters["tier"]))
    totals = CapacityTotals()
    if request.htmx and request.htmx.target == "capacity":  # the header polling for the latest total
        return render(request, "teams/partials/capacity.html", {"totals": totals})
    page = Paginator(pending, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for item in page.object_list:
        totals.attach(item)
        rows.append(
            {
                "item": item,
                "impact": totals.impact(item),
                "diff": item.changes,
                "own": item.requested_by_id == request.user.pk,
                "since_first": since_first(item.first_changes, item.changes) if item.revision > 1 else [],
            }
        )
    changes = [(row["item"], row["impact"].guaranteed_after - row["impact"].guaranteed_now) for row in rows]
    budgets = budget_impacts([(item, added) for item, added in changes if added > 0])
    for row in rows:
        row["budget"] = budgets.get(row["item"].pk, "")
    return render(
        request,
        "teams/queue.html",
        {
            "rows": rows,
            "page": page,
            "page_query": urlencode({key: value for key, value in filters.items() if value}),
            "totals": totals,
            "filters": filters,
            # Slugs and names, not rows: an approver sees every team, 200 model instances a page otherwise.
            "teams": Team.objects.visible_to(request.user).values_list("slug", "name"),
            "clusters": [(row.cluster.name, row.cluster.name) for row in totals.rows],
            "tiers": GpuTier.objects.visible_to(request.user).values_list("slug", "name"),
            "kinds": Kind.choices,
            "failed_reversions": Grant.objects.visible_to(request.user)
            .filter(reversion__state=State.FAILED)
            .select_related("reversion", "namespace"),
            "agreements": autoapproval.agreements(),
            "currency": settings.CHARGEBACK_CURRENCY,
        },
    )


#: What a decision can run into; each is shown to the approver, none is a server error.
DECISION_ERRORS = (workflow.InvalidTransition, workflow.CapacityExceeded, PermissionDenied, ValidationError)


@login_required
@require_POST
def request_approve(request: HttpRequest, pk: int) -> HttpResponse:
    override = request.POST.get("override_capacity") == "on"
    # `grant|<field>` inputs hold the amounts an approver grants in part; one left as asked grants it all.
    granted = {key.removeprefix(GRANT): value for key, value in request.POST.items() if key.startswith(GRANT)}
    return _decide(
        request,
        pk,
        lambda: workflow.approve_request(
            pk,
            actor=request.user,
            note=request.POST.get("note", ""),
            override_capacity=override,
            granted=granted,
            until=request.POST.get("until") or None,
        ),
        f"Request #{pk} approved; provisioning applies it now.",
    )


@login_required
@require_POST
def request_changes(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda: workflow.request_changes(pk, actor=request.user, note=request.POST.get("note", "")),
        f"Request #{pk} sent back to its requester for changes.",
    )


@login_required
@require_POST
def request_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda: workflow.reject_request(pk, actor=request.user, note=request.POST.get("note", "")),
        f"Request #{pk} rejected.",
    )


@login_required
@require_POST
def request_retry(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(
        request,
        pk,
        lambda: workflow.retry_request(pk, actor=request.user),
        f"Request #{pk} sent back to provisioning.",
    )


def _decide(request: HttpRequest, pk: int, decision, done: str) -> HttpResponse:
    _visible_request(request, pk)
    roles.require_approver(request.user)
    try:
        decision()
    except DECISION_ERRORS as error:
        return _decision_failed(request, pk, error)
    return _decision_done(request, pk, done)


@login_required
@require_POST
def queue_bulk_approve(request: HttpRequest) -> HttpResponse:
    roles.require_approver(request.user)
    approved, refused = [], []
    selected = sorted({int(value) for value in request.POST.getlist("selected") if _is_request_id(value)})
    # A removal is approved one by one, by an approver who has read what it removes.
    visible = Request.objects.visible_to(request.user)
    removals = {item.pk: item.removed_fields for item in visible.filter(pk__in=selected).only("changes")}
    for pk in selected:
        if removed := removals.get(pk):
            refused.append(f"#{pk}: it removes {', '.join(removed)}; approve it on its own.")
            continue
        try:
            workflow.approve_request(pk, actor=request.user)
        except Request.DoesNotExist:
            refused.append(f"#{pk}: no such request")
        except DECISION_ERRORS as error:
            refused.append(f"#{pk}: {_describe(error)}")
        else:
            approved.append(f"#{pk}")
    if approved:
        messages.success(request, f"Approved {', '.join(approved)}.")
    for line in refused:
        messages.error(request, f"Not approved {line}")
    if not approved and not refused:
        messages.error(request, "Select the requests to approve.")
    return redirect("queue")


@login_required
def request_decision(request: HttpRequest, pk: int) -> HttpResponse:
    """A queue row's decision forms, fetched when the approver opens the row: three forms on each of
    twenty rows were most of the queue's rendering (BENCHMARKS.md, Load)."""
    item = _visible_request(request, pk)
    roles.require_approver(request.user)
    overcommits = capacity_impact(item).overcommits
    context = {"item": item, "overcommits": overcommits, "grantable": bool(grantable(item.changes))}
    return render(request, "teams/partials/queue_decision.html", context)


@login_required
def request_row(request: HttpRequest, pk: int) -> HttpResponse:
    """The state of one request, polled by the queue until provisioning is done with it."""
    item = _visible_request(request, pk)
    roles.require_approver(request.user)
    return render(request, "teams/partials/request_state.html", {"item": item})


def _decision_done(request: HttpRequest, pk: int, message: str) -> HttpResponse:
    if request.htmx:
        item = Request.objects.visible_to(request.user).select_related("team").get(pk=pk)
        response = render(request, "teams/partials/queue_decided.html", {"item": item, "message": message})
        response["HX-Trigger"] = "capacity-changed"  # the queue header reloads its total now, not at the next poll
        return response
    messages.success(request, message)
    return redirect(_next(request))


def _decision_failed(request: HttpRequest, pk: int, error: Exception) -> HttpResponse:
    text = _describe(error)
    if request.htmx:
        return render(
            request,
            "teams/partials/queue_error.html",
            {"pk": pk, "message": text, "overcommit": isinstance(error, workflow.CapacityExceeded)},
            status=409 if isinstance(error, workflow.InvalidTransition | workflow.CapacityExceeded) else 400,
        )
    messages.error(request, f"Request #{pk}: {text}")
    return redirect(_next(request))


def _is_request_id(value: str) -> bool:
    """ASCII digits that fit a primary key: "²" is a digit to str.isdigit but not to int()."""
    return value.isascii() and value.isdigit() and len(value) <= 18


def _next(request: HttpRequest) -> str:
    """Back to the page the decision was made on, if it is one of ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("queue")


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)


@login_required
def grant_extend(request: HttpRequest, pk: int) -> HttpResponse:
    """An extension request, pre-filled with a later end and the namespace's usage; decided like any request."""
    grant = get_object_or_404(
        Grant.objects.visible_to(request.user).select_related("namespace__team", "request"), pk=pk
    )
    if not roles.is_lead(request.user, grant.namespace.team):
        raise PermissionDenied("Only a lead of the team can ask to extend its grants.")
    if grant.ended_at is not None:
        messages.error(request, f"The grant of request #{grant.request_id} has ended; ask for a new one.")
        return redirect("request-detail", pk=grant.request_id)
    until = request.POST.get("until", "") if request.method == "POST" else grants.proposed_extension(grant).isoformat()
    justification = (
        request.POST.get("justification", "") if request.method == "POST" else grants.extension_evidence(grant)
    )
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        try:
            sent = workflow.submit_extension(grant.pk, actor=request.user, until=until, justification=justification)
        except PolicyError as error:
            errors = error.message_dict
        except (ValidationError, workflow.InvalidTransition) as error:
            errors = {"until": [_describe(error)]}
        else:
            messages.success(request, f"Request #{sent.pk} sent to the approvers: extend until {until}.")
            return redirect("request-detail", pk=sent.pk)
    context = {"grant": grant, "until": until, "justification": justification, "errors": errors}
    return render(request, "teams/grant_extend.html", context, status=400 if errors else 200)
