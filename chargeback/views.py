"""The chargeback pages: the report (a table per cost center, totals, CSV and FOCUS), and finance's month-end."""

from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from chargeback.charts import daily_trend_chart, gpu_hours_chart
from chargeback.forms import PeriodForm, ReportForm, report_range, this_month
from chargeback.models import BillingPeriod, RollupState
from chargeback.periods import changes_since_closing, close_period, reopen_period
from chargeback.reports import ReportQuery, build_report
from chargeback.rollups import watermark
from teams import roles
from teams.models import CostCenter
from teams.roles import require_chargeback_reader


@login_required
def report(request: HttpRequest) -> HttpResponse:
    require_chargeback_reader(request.user)
    start, end = this_month()
    form = ReportForm(request.GET if request.GET else {"start": start, "end": end, "group_by": "team"})
    context: dict = {"form": form, "shows_month_end": roles.sees_every_team(request.user)}
    status = 200
    if form.is_valid():
        start, end = report_range(form.cleaned_data["start"], form.cleaned_data["end"])
        group_by = form.cleaned_data["group_by"] or "team"
        cluster = form.cleaned_data["cluster"].name if form.cleaned_data["cluster"] else None
        result = build_report(
            ReportQuery(start=start, end=end, group_by=group_by, cluster=cluster), viewer=request.user
        )
        daily = build_report(ReportQuery(start=start, end=end, step="day", cluster=cluster), viewer=request.user)
        only = {"cluster": cluster} if cluster else {}
        context.update(
            report=result,
            group_label=dict(form.fields["group_by"].choices)[group_by],
            has_cluster_column=group_by != "cluster",  # grouped by cluster, the group is the cluster
            complete_until=_moment(result["complete_until"]),
            provisional_until=_moment(result["provisional_until"]),
            centers=_by_cost_center(result, start, end, group_by, CostCenter.objects.visible_to(request.user), only),
            chart=gpu_hours_chart(result["rows"]),
            trend=daily_trend_chart(daily["rows"]),
            csv_url=_csv_url(start, end, group_by, **only),
            focus_url=_focus_url(start, end, **only),
        )
    else:
        status = 400
    return render(request, "chargeback/report.html", context, status=status)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _by_cost_center(
    result: dict, start: datetime, end: datetime, group_by: str, cost_centers, only: dict[str, str]
) -> list[dict]:
    """The rows per cost center, with its totals; grouped by tier or cluster, rows span cost centers and stay together.

    `only`: the page's filters (a cluster), kept in each cost center's CSV link.
    """
    names = dict(cost_centers.values_list("code", "name"))
    centers: dict[str, dict] = {}
    for row in result["rows"]:
        code = row["group"] if group_by == "cost_center" else row["cost_center"]
        extra = {**only, "cost_center": code} if code else only
        center = centers.setdefault(
            code,
            {
                "code": code,
                "name": names.get(code, "") if code else "All cost centers",
                "rows": [],
                "csv_url": _csv_url(start, end, group_by, **extra),
            },
        )
        center["rows"].append(row)
    for center in centers.values():
        for column in ("cost_total", "gpu_reserved_hours", "gpu_used_hours"):
            center[column] = sum((Decimal(row[column]) for row in center["rows"]), Decimal(0))
    return sorted(centers.values(), key=lambda center: center["code"])


def _csv_url(start: datetime, end: datetime, group_by: str, **extra: str) -> str:
    query = {"start": start.date().isoformat(), "end": end.date().isoformat(), "group_by": group_by, "format": "csv"}
    return f"{reverse('v1:chargeback')}?{urlencode({**query, **extra})}"


def _focus_url(start: datetime, end: datetime, **extra: str) -> str:
    query = {"start": start.date().isoformat(), "end": end.date().isoformat(), **extra}
    return f"{reverse('v1:chargeback-focus')}?{urlencode(query)}"


#: Months the month-end page lists, the current one first.
MONTHS_SHOWN = 12


@login_required
@require_http_methods(["GET", "POST"])
def periods(request: HttpRequest) -> HttpResponse:
    """Finance closes and reopens months here; approvers see the same page without the buttons."""
    if not roles.sees_every_team(request.user):
        raise PermissionDenied(roles.FINANCE_ONLY)
    status, problem = 200, ""
    if request.method == "POST":
        form = PeriodForm(request.POST)
        if form.is_valid():
            action = close_period if form.cleaned_data["action"] == "close" else reopen_period
            try:
                action(form.cleaned_data["month"], actor=request.user)
            except ValidationError as error:
                status, problem = 400, " ".join(error.message_dict.get("month", error.messages))
            else:
                return redirect("chargeback:periods")
        else:
            status, problem = 400, " ".join(message for messages in form.errors.values() for message in messages)
    return render(request, "chargeback/periods.html", _periods_context(request.user, problem), status=status)


def _periods_context(user, problem: str) -> dict:
    """The last months, each open or closed (by whom, when, for how much), and what changed since a reopening."""
    rolled = watermark(RollupState.MONTHLY)
    stored = {
        period.month: period
        for period in BillingPeriod.objects.visible_to(user).select_related("closed_by", "reopened_by")
    }
    month = timezone.now().date().replace(day=1)
    months = []
    for _ in range(MONTHS_SHOWN):
        period = stored.get(month)
        following = (month + timedelta(days=32)).replace(day=1)
        is_complete = rolled is not None and rolled.date() >= following
        months.append(
            {
                "month": month,
                "period": period,
                "is_closed": period is not None and period.state == BillingPeriod.State.CLOSED,
                "is_complete": is_complete,
                "closed_total": period.snapshot.get("totals", {}).get("cost_total") if period else None,
                "changes": changes_since_closing(period, viewer=user)
                if period is not None and period.state == BillingPeriod.State.OPEN and period.snapshot
                else [],
            }
        )
        month = (month - timedelta(days=1)).replace(day=1)
    return {
        "months": months,
        "may_act": roles.is_finance(user),
        "problem": problem,
        "currency": settings.CHARGEBACK_CURRENCY,
    }
