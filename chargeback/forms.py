from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from chargeback.reports import GROUPS, bounds_problem
from teams.models import Cluster

EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 30)


def this_month(today: date | None = None) -> tuple[date, date]:
    """The first of this month to today (UTC): the page's default, whose last part is provisional."""
    today = today or timezone.now().date()
    return today.replace(day=1), today


def report_range(start: date, end: date) -> tuple[datetime, datetime]:
    """The page's whole UTC days, `end` included, as the report's [start, end)."""
    return datetime.combine(start, time(), tzinfo=UTC), datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)


class ReportForm(forms.Form):
    """The period of the page's report, in whole UTC days, both ends included."""

    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(
        label="Group by",
        choices=[(name, name.replace("_", " ").capitalize()) for name in GROUPS],
        initial="team",
        required=False,
    )
    cluster = forms.ModelChoiceField(
        label="Cluster",
        queryset=Cluster.objects.all(),
        to_field_name="name",
        empty_label="All clusters",
        required=False,
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        for name, value in (("start", start), ("end", end)):
            if value is not None and not EARLIEST <= value <= LATEST:
                self.add_error(name, "Choose a day between 2000 and 2099.")
        if start and end and end < start:
            self.add_error("end", "Must not be before From.")
        elif start and end and not self.errors and (problem := bounds_problem(*report_range(start, end), None)):
            self.add_error(*problem)
        return cleaned


class PeriodForm(forms.Form):
    """Close or reopen one month (its first day, as the page's buttons send it)."""

    month = forms.DateField(widget=forms.HiddenInput)
    action = forms.ChoiceField(choices=[("close", "Close"), ("reopen", "Reopen")], widget=forms.HiddenInput)

    def clean_month(self) -> date:
        month = self.cleaned_data["month"]
        if not EARLIEST <= month <= LATEST:
            raise forms.ValidationError("Choose a month between 2000 and 2099.")
        return month.replace(day=1)
