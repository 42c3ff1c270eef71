"""The chargeback report's query parameters and its body, as the OpenAPI schema shows them."""

from datetime import UTC, datetime

from rest_framework import serializers

from chargeback.reports import COLUMNS, GROUPS, MEASURE_COLUMNS, STEPS, ReportQuery, bounds_problem
from teams.models import Cluster

#: Reports cover this century; beyond it a date is a typo, and date arithmetic would overflow.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class RangeQuerySerializer(serializers.Serializer):
    """A range of whole days or hours, narrowed to a cost center or a cluster: what every export asks."""

    start = serializers.DateTimeField(
        input_formats=["%Y-%m-%d", "iso-8601"],
        help_text="From (inclusive): a date (00:00 UTC) or an ISO 8601 date-time on a whole hour.",
    )
    end = serializers.DateTimeField(
        input_formats=["%Y-%m-%d", "iso-8601"],
        help_text="Until (exclusive): a date (00:00 UTC) or an ISO 8601 date-time on a whole hour.",
    )
    cost_center = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=32, help_text="Only this cost center (its code)."
    )
    cluster = serializers.CharField(
        required=False, allow_null=True, default=None, max_length=63, help_text="Only this cluster (its name)."
    )

    def validate_start(self, value: datetime) -> datetime:
        return _check_moment(value)

    def validate_end(self, value: datetime) -> datetime:
        return _check_moment(value)

    def validate_cluster(self, value: str | None) -> str | None:
        return _check_cluster(value)

    def validate(self, attrs: dict) -> dict:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        if problem := bounds_problem(attrs["start"], attrs["end"], attrs.get("step")):
            field_name, message = problem
            raise serializers.ValidationError({field_name: [message]})
        return attrs


class ReportQuerySerializer(RangeQuerySerializer):
    group_by = serializers.ChoiceField(choices=GROUPS, default="cost_center")
    step = serializers.ChoiceField(
        choices=STEPS, required=False, allow_null=True, default=None, help_text="One row per group and period."
    )

    def query(self) -> ReportQuery:
        return ReportQuery(**self.validated_data)


def _check_moment(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise serializers.ValidationError("Must be between 2000-01-01 and 2100-01-01.")
    if (value.minute, value.second, value.microsecond) != (0, 0, 0):
        raise serializers.ValidationError("Must be on a whole hour (UTC): reports are made of hourly rollups.")
    return value


def _check_cluster(value: str | None) -> str | None:
    """A cluster the portal knows, by name: an unknown one is a typo, not an empty report."""
    if value is not None and not Cluster.objects.filter(name=value).exists():
        raise serializers.ValidationError("No cluster has this name.")
    return value


class ReportRowSerializer(serializers.Serializer):
    """One group in one period; hours and money are decimal strings."""

    def get_fields(self) -> dict:
        fields = {}
        for column in COLUMNS:
            nullable = column.endswith("_utilization")
            fields[column] = serializers.CharField(allow_null=nullable)
        return fields


class ReportTotalsSerializer(serializers.Serializer):
    def get_fields(self) -> dict:
        return {column: serializers.CharField(allow_null=column.endswith("_utilization")) for column in MEASURE_COLUMNS}


class ReportSerializer(serializers.Serializer):
    start = serializers.CharField()
    end = serializers.CharField()
    complete_until = serializers.CharField(
        allow_null=True, help_text="Usage is rolled up until here: hours before it are final."
    )
    provisional_until = serializers.CharField(
        allow_null=True,
        help_text="The report runs from complete_until to here on raw usage samples: provisional until rolled up.",
    )
    group_by = serializers.ChoiceField(choices=GROUPS)
    step = serializers.ChoiceField(choices=STEPS, allow_null=True)
    cost_center = serializers.CharField(allow_null=True)
    cluster = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField(), help_text="The CSV header, in order.")
    rows = ReportRowSerializer(many=True)
    totals = ReportTotalsSerializer()


class FocusQuerySerializer(RangeQuerySerializer):
    """The FOCUS export's range: whole days or hours, as the report's; one FOCUS row per day and charge."""
