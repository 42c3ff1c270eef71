"""Query parameters of the list endpoints; related objects are named by slug, never by id."""

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from teams.models import Request, Team, TeamNamespace


class UtcDateTimeField(IsoDateTimeField):
    """ISO 8601, sent to the database in UTC: PostgreSQL refuses offsets beyond 15:59, Python years below 1."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Date/time out of range.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class TeamFilterSet(django_filters.FilterSet):
    cost_center = django_filters.CharFilter(field_name="cost_center__code", help_text="Cost center code.")
    member = django_filters.CharFilter(
        field_name="memberships__user__username", distinct=True, help_text="Teams this user belongs to."
    )

    class Meta:
        model = Team
        fields = ["cost_center", "member"]


class NamespaceFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter()
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="Cluster name.")
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    cost_center = django_filters.CharFilter(field_name="team__cost_center__code", help_text="Cost center code.")
    tier = django_filters.CharFilter(field_name="tier__slug", help_text="GPU tier slug.")
    live = django_filters.BooleanFilter(
        field_name="deleted_at", lookup_expr="isnull", help_text="true: not deleted; false: deleted only."
    )
    is_drifted = django_filters.BooleanFilter()

    class Meta:
        model = TeamNamespace
        fields = ["name", "cluster", "team", "cost_center", "tier", "live", "is_drifted"]


class RequestFilterSet(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=Request.State.choices, help_text="Repeat for several states.")
    kind = django_filters.MultipleChoiceFilter(choices=Request.Kind.choices)
    team = django_filters.CharFilter(field_name="team__slug", help_text="Team slug.")
    namespace = django_filters.CharFilter(field_name="namespace_name", help_text="Namespace name.")
    cluster = django_filters.CharFilter(field_name="cluster__name", help_text="Cluster name.")
    requested_by = django_filters.CharFilter(field_name="requested_by__username")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Request
        fields = ["state", "kind", "team", "namespace", "cluster", "requested_by", "created_after", "created_before"]
