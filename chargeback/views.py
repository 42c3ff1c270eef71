"""The chargeback page: a table per cost center, grand totals, a CSV each, GPU-hours per group and per day."""

from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from chargeback.charts import daily_trend_chart, gpu_hours_chart
from chargeback.forms import ReportForm, report_range, this_month
from chargeback.reports import ReportQuery, build_report
from teams.models import CostCenter
from teams.roles import require_chargeback_reader


@login_required
def report(request: HttpRequest) -> HttpResponse:
    require_chargeback_reader(request.user)
    start, end = this_month()
    form = ReportForm(request.GET if request.GET else {"start": start, "end": end, "group_by": "team"})
    context: dict = {"form": form}
    status = 200
    if form.is_valid():
        start, end = report_range(form.cleaned_data["start"], form.cleaned_data["end"])
        group_by = form.cleaned_data["group_by"] or "team"
        result = build_report(ReportQuery(start=start, end=end, group_by=group_by), viewer=request.user)
        daily = build_report(ReportQuery(start=start, end=end, step="day"), viewer=request.user)
        context.update(
            report=result,
            group_label=dict(form.fields["group_by"].choices)[group_by],
            complete_until=_moment(result["complete_until"]),
            provisional_until=_moment(result["provisional_until"]),
            centers=_by_cost_center(result, start, end, group_by, CostCenter.objects.visible_to(request.user)),
            chart=gpu_hours_chart(result["rows"]),
            trend=daily_trend_chart(daily["rows"]),
            csv_url=_csv_url(start, end, group_by),
            focus_url=_focus_url(start, end),
        )
    else:
        status = 400
    return render(request, "chargeback/report.html", context, status=status)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _by_cost_center(result: dict, start: datetime, end: datetime, group_by: str, cost_centers) -> list[dict]:
    """The rows per cost center, with its totals; grouped by tier, rows span cost centers and stay together."""
    names = dict(cost_centers.values_list("code", "name"))
    centers: dict[str, dict] = {}
    for row in result["rows"]:
        code = row["group"] if group_by == "cost_center" else row["cost_center"]
        extra = {"cost_center": code} if code else {}
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


def _focus_url(start: datetime, end: datetime) -> str:
    query = {"start": start.date().isoformat(), "end": end.date().isoformat()}
    return f"{reverse('v1:chargeback-focus')}?{urlencode(query)}"
