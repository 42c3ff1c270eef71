"""Pages that need the rendered manifests or the cluster: namespace detail, previews, dry runs, overview.

Namespaces and requests come through visible_to(user): another team's are a 404 here too.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from provisioning import applying, connections
from provisioning.charts import RANGES, gpu_chart
from provisioning.connection_check import check_connection
from provisioning.fit import check_fit, parse_ask
from provisioning.forms import ConnectionForm
from provisioning.manifests import render_job_example, render_quotas, to_yaml
from provisioning.models import ClusterConnection
from provisioning.quota_warnings import current_warnings
from provisioning.refusals import recent_refusals
from teams import roles, workflow
from teams.capacity import CapacityTotals, cluster_status
from teams.catalog import TierCatalog
from teams.describe import LIMIT_COLUMNS, limit_range_rows
from teams.forms import build_form, resolve_target
from teams.models import Cluster, GpuTier, Request, TeamNamespace
from teams.usage import gpu_usage, usage_rows


@login_required
def namespace_detail(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    namespace = _visible_namespace(request, cluster, name)
    objects = applying.desired_objects(namespace)
    return render(
        request,
        "provisioning/namespace_detail.html",
        {
            "namespace": namespace,
            "usage": usage_rows(namespace),
            "status": cluster_status(namespace.cluster_id),
            "yaml": to_yaml(objects),
            "job_yaml": to_yaml([render_job_example(namespace)]),
            "limits": limit_range_rows(namespace.limit_range),
            "limit_headings": [heading for _, heading in LIMIT_COLUMNS],
            "ranges": list(RANGES),
            "can_reapply": roles.can_decide(request.user),
            "can_request": roles.can_request_for(request.user, namespace.team),
            "refusals": recent_refusals(namespace, request.user),
            "quota_warnings": current_warnings(namespace),
        },
    )


@login_required
def namespace_manifests(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    """Exactly what provisioning applies, as a YAML download."""
    namespace = _visible_namespace(request, cluster, name)
    response = HttpResponse(to_yaml(applying.desired_objects(namespace)), content_type="application/yaml")
    response["Content-Disposition"] = f'attachment; filename="{namespace.cluster.name}-{namespace.name}.yaml"'
    return response


@login_required
@require_POST
def namespace_fit(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    namespace = _visible_namespace(request, cluster, name)
    ask, errors = parse_ask(*(request.POST.get(key, "").strip() for key in ("gpus", "cpu", "memory", "count")))
    answer = None
    if ask is not None:
        quotas = render_quotas(namespace, TierCatalog.load())
        answer = check_fit(namespace, quotas, ask)
    return render(request, "provisioning/partials/fit_answer.html", {"answer": answer, "errors": errors}, status=200)


@login_required
def usage_chart(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    namespace = _visible_namespace(request, cluster, name)
    chart = gpu_chart(namespace, request.GET.get("range", "24h"))
    return render(
        request, "provisioning/partials/chart.html", {"chart": chart, "namespace": namespace, "ranges": RANGES}
    )


@login_required
@require_POST
def request_preview(request: HttpRequest, kind: str) -> HttpResponse:
    """The YAML a request being typed would apply."""
    team, namespace = resolve_target(request.user, kind, request.POST)
    form = build_form(kind, team=team, namespace=namespace, data=request.POST, posted=True)
    draft = Request(
        kind=kind,
        team=team,
        namespace=namespace,
        namespace_name=(form.name.value.strip() if form.name else namespace.name) or "new-namespace",
        proposed_spec=form.resolved(),
    )
    try:
        text = to_yaml(applying.desired_objects(applying.proposed_namespace(draft)))
    except GpuTier.DoesNotExist:  # a tier the policy will name as unknown
        text = ""
    return render(request, "provisioning/partials/yaml_preview.html", {"yaml": text})


@login_required
def request_evidence(request: HttpRequest, pk: int) -> HttpResponse:
    """What an approver judges a justification by: the pods the namespace's quota refused, and its
    guaranteed-GPU usage against the hard line over 7 and 30 days."""
    item = get_object_or_404(Request.objects.visible_to(request.user).select_related("namespace__team"), pk=pk)
    roles.require_approver(request.user)
    namespace = item.namespace
    context = {"item": item, "namespace": namespace, "ranges": RANGES, "refusals": [], "charts": []}
    if namespace is not None:
        context["refusals"] = recent_refusals(namespace, request.user)
        context["charts"] = [gpu_chart(namespace, "7d"), gpu_chart(namespace, "30d")]
    return render(request, "provisioning/partials/evidence.html", context)


@login_required
def request_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    """The API server's verdict on a pending request, for the approver deciding it."""
    item = get_object_or_404(Request.objects.visible_to(request.user).select_related("team", "namespace__tier"), pk=pk)
    roles.require_approver(request.user)
    verdict = applying.dry_run_request(item)
    return render(request, "provisioning/partials/dry_run.html", {"verdict": verdict})


@login_required
def cluster_overview(request: HttpRequest) -> HttpResponse:
    """Every cluster's health and capacity, and every managed namespace, like `kubectl get resourcequota -A`
    across clusters; `?cluster=` narrows the table to one."""
    roles.require_approver(request.user)
    totals = CapacityTotals()
    chosen = request.GET.get("cluster", "")
    # Deliberately across clusters unless one is chosen: this is the page that compares them.
    namespaces = TeamNamespace.objects.visible_to(request.user).live()
    if chosen:
        namespaces = namespaces.filter(cluster__name=chosen)
    rows = []
    for namespace in namespaces.select_related("cluster", "team__cost_center", "tier").order_by("name", "cluster"):
        used = gpu_usage(namespace.observed_quotas).used or 0
        rows.append({"namespace": namespace, "usage": usage_rows(namespace), "gpus_used": used})
    if request.GET.get("sort", "gpu") == "gpu":
        rows.sort(key=lambda row: (-row["gpus_used"], row["namespace"].name, row["namespace"].cluster.name))
    live = request.htmx and request.htmx.target == "cluster-live"  # the page polling for the latest sync
    return render(
        request,
        "provisioning/partials/cluster_live.html" if live else "provisioning/cluster_overview.html",
        {
            "clusters": totals.rows,
            "chosen": chosen,
            "rows": rows,
            "gpus_used": sum(row["gpus_used"] for row in rows),
            "drifted": sum(1 for row in rows if row["namespace"].is_drifted),
            "failed": sum(1 for row in rows if row["namespace"].reconcile_state == TeamNamespace.ReconcileState.FAILED),
            "sort": request.GET.get("sort", "gpu"),
        },
    )


@login_required
@require_POST
def namespace_reapply(request: HttpRequest, cluster: str, name: str) -> HttpResponse:
    """An admin restores a namespace to its approved state: after drift, or to retry a failed reconcile."""
    namespace = _visible_namespace(request, cluster, name)
    roles.require_approver(request.user)
    workflow.request_reconcile(namespace.pk, actor=request.user)
    messages.success(request, f"{name} on {cluster} is being re-applied.")
    if request.POST.get("back") == "namespace":
        return redirect(namespace)
    return redirect("cluster-overview")


def namespace_on_default_cluster(request: HttpRequest, rest: str) -> HttpResponse:
    """A link from before namespaces named their cluster: the same page of the default cluster's namespace."""
    target = f"/clusters/{Cluster.objects.get_default().name}/namespaces/{rest}"
    query = request.META.get("QUERY_STRING", "")
    return HttpResponsePermanentRedirect(f"{target}?{query}" if query else target)


def _visible_namespace(request: HttpRequest, cluster: str, name: str) -> TeamNamespace:
    """The live namespace if the user may see it; 404 alike for another team's and for none at all."""
    namespaces = TeamNamespace.objects.visible_to(request.user).live()
    return get_object_or_404(namespaces.select_related("cluster", "team__cost_center", "tier").at(cluster, name))


@login_required
def cluster_connect(request: HttpRequest) -> HttpResponse:
    """An approver adds a cluster: its name, and a kubeconfig uploaded, a path, or in-cluster."""
    roles.require_approver(request.user)
    form = ConnectionForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            cluster = connections.connect_cluster(
                actor=request.user,
                name=form.cleaned_data["name"].strip(),
                description=form.cleaned_data["description"].strip(),
                source=form.to_source(),
            )
        except ValidationError as error:
            form.add_service_errors(error.message_dict)
        else:
            messages.success(request, f"Cluster {cluster.name} is connected. Test the connection below.")
            return redirect("cluster-connection", cluster=cluster.name)
    status = 400 if form.is_bound else 200
    return render(request, "provisioning/cluster_connect.html", {"form": form}, status=status)


@login_required
def cluster_connection(request: HttpRequest, cluster: str) -> HttpResponse:
    """One cluster's connection: where its credentials come from (never the credentials), its last health,
    a test, and a form to change how it is reached."""
    roles.require_approver(request.user)
    target = get_object_or_404(Cluster, name=cluster)
    connection = ClusterConnection.objects.filter(cluster=target).first()
    form = ConnectionForm(request.POST or None, request.FILES or None, naming=False)
    if request.method == "POST" and form.is_valid():
        try:
            connections.change_connection(target, actor=request.user, source=form.to_source())
        except ValidationError as error:
            form.add_service_errors(error.message_dict)
        else:
            messages.success(request, f"Cluster {target.name} is now reached through the new connection.")
            return redirect("cluster-connection", cluster=target.name)
    context = {"cluster": target, "connection": connection, "form": form, "check": None}
    return render(request, "provisioning/cluster_connection.html", context, status=400 if form.is_bound else 200)


@login_required
@require_POST
def cluster_connection_test(request: HttpRequest, cluster: str) -> HttpResponse:
    """Test connection: the cluster's answer shown on its page (a fragment for htmx)."""
    roles.require_approver(request.user)
    target = get_object_or_404(Cluster, name=cluster)
    connection = ClusterConnection.objects.filter(cluster=target).first()
    check = check_connection(connection) if connection else None
    if request.htmx:
        return render(request, "provisioning/partials/connection_check.html", {"check": check, "cluster": target})
    form = ConnectionForm(naming=False)
    context = {"cluster": target, "connection": connection, "form": form, "check": check}
    return render(request, "provisioning/cluster_connection.html", context)


@login_required
def cluster_remove(request: HttpRequest, cluster: str) -> HttpResponse:
    """Remove a cluster the portal no longer provisions; refused, saying why, while it holds namespaces."""
    roles.require_approver(request.user)
    target = get_object_or_404(Cluster, name=cluster)
    refusal = ""
    if request.method == "POST":
        try:
            connections.remove_cluster(target, actor=request.user)
        except ValidationError as error:
            refusal = " ".join(error.message_dict["cluster"])
        else:
            messages.success(request, f"Cluster {cluster} is removed.")
            return redirect("cluster-overview")
    context = {"cluster": target, "refusal": refusal}
    return render(request, "provisioning/cluster_remove.html", context, status=409 if refusal else 200)
