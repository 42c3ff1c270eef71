"""The chargeback page: a table per cost center, a CSV download each, and GPU-hours per team."""

from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from chargeback.charts import gpu_hours_chart
from chargeback.forms import ReportForm, last_month, report_range
from chargeback.reports import ReportQuery, build_report
from teams.models import CostCenter
from teams.roles import require_chargeback_reader


@login_required
def report(request: HttpRequest) -> HttpResponse:
    require_chargeback_reader(request.user)
    start, end = last_month()
    form = ReportForm(request.GET if request.GET else {"start": start, "end": end})
    context: dict = {"form": form}
    status = 200
    if form.is_valid():
        start, end = report_range(form.cleaned_data["start"], form.cleaned_data["end"])
        result = build_report(ReportQuery(start=start, end=end, group_by="team"), viewer=request.user)
        context.update(
            report=result,
            complete_until=datetime.fromisoformat(result["complete_until"]) if result["complete_until"] else None,
            centers=_by_cost_center(result, start, end, CostCenter.objects.visible_to(request.user)),
            chart=gpu_hours_chart(result["rows"]),
            csv_url=_csv_url(start, end),
        )
    else:
        status = 400
    return render(request, "chargeback/report.html", context, status=status)


def _by_cost_center(result: dict, start: datetime, end: datetime, cost_centers) -> list[dict]:
    names = dict(cost_centers.values_list("code", "name"))
    centers: dict[str, dict] = {}
    for row in result["rows"]:
        center = centers.setdefault(
            row["cost_center"],
            {
                "code": row["cost_center"],
                "name": names.get(row["cost_center"], ""),
                "rows": [],
                "csv_url": _csv_url(start, end, cost_center=row["cost_center"]),
            },
        )
        center["rows"].append(row)
    for center in centers.values():
        center["cost_total"] = str(sum((Decimal(row["cost_total"]) for row in center["rows"]), Decimal(0)))
        center["gpu_reserved_hours"] = str(
            sum((Decimal(row["gpu_reserved_hours"]) for row in center["rows"]), Decimal(0))
        )
        center["gpu_used_hours"] = str(sum((Decimal(row["gpu_used_hours"]) for row in center["rows"]), Decimal(0)))
    return sorted(centers.values(), key=lambda center: center["code"])


def _csv_url(start: datetime, end: datetime, **extra: str) -> str:
    query = {"start": start.date().isoformat(), "end": end.date().isoformat(), "group_by": "team", "format": "csv"}
    return f"{reverse('v1:chargeback')}?{urlencode({**query, **extra})}"
