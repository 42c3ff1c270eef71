"""GET /api/v1/chargeback/: the report as JSON or CSV, with an ETag; GET /api/v1/chargeback/focus/: FOCUS CSV."""

import hashlib
import json

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from chargeback.api.renderers import ReportCsvRenderer
from chargeback.api.serializers import FocusQuerySerializer, ReportQuerySerializer, ReportSerializer
from chargeback.focus import COLUMNS as FOCUS_COLUMNS
from chargeback.focus import VERSION, focus_rows
from chargeback.reports import build_report
from teams.api.permissions import CanReadChargeback
from teams.csv_export import stream_csv

FORMATS = ("json", "csv")


class ChargebackView(APIView):
    """GPU-, core- and GiB-hours, reserved and used, and their cost, per group and period."""

    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, CanReadChargeback]
    renderer_classes = [JSONRenderer, ReportCsvRenderer]

    @extend_schema(
        parameters=[
            ReportQuerySerializer,
            OpenApiParameter("format", OpenApiTypes.STR, enum=FORMATS, description="json (default) or csv."),
        ],
        responses={
            (200, "application/json"): ReportSerializer,
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The rows, with `columns` as header."),
            304: OpenApiResponse(description="Not modified: If-None-Match named the report's current ETag."),
        },
        description="Chargeback for [start, end) in UTC, grouped by cost center, team, namespace, tier or "
        "cluster, optionally one row per day, week or month, optionally of one cost center or cluster only. "
        "Reserved hours are guaranteed quota x time, used hours "
        "observed usage x time, unknown hours where the portal had no samples (not billed); cost is hours x "
        "the tier's rates in effect each day on the namespace's cluster (its own rate, else the tier's general "
        "one). Hours before `complete_until` (the hourly rollup) are final; "
        "from there to `provisional_until` (now, at most `end`) they come from raw samples and are provisional. "
        "Finance and approvers see every team; a team's leads and members see their own teams' usage.",
    )
    def get(self, request) -> Response:
        parameters = ReportQuerySerializer(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        report = build_report(parameters.query(), viewer=request.user)
        etag = '"{}"'.format(
            hashlib.sha256(json.dumps([request.accepted_renderer.format, report], sort_keys=True).encode()).hexdigest()[
                :32
            ]
        )
        if etag in _listed(request.headers.get("If-None-Match", "")):
            return Response(status=304, headers={"ETag": etag})
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if request.accepted_renderer.format == "csv":
            name = f"chargeback-{parameters.validated_data['group_by']}-{report['start'][:10]}-{report['end'][:10]}"
            headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return Response(report, headers=headers)

    def perform_content_negotiation(self, request, force=False):
        requested = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE)
        if requested is not None and requested not in FORMATS and not force:
            raise exceptions.ValidationError({"format": ["Choose json or csv."]})
        return super().perform_content_negotiation(request, force)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        is_report = isinstance(response.data, dict) and "rows" in response.data
        if not is_report:
            # Errors (and OPTIONS) are JSON whatever was asked for: the one error body of the API.
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
            response.renderer_context = self.get_renderer_context()
        return response


def _listed(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


class FocusExportView(APIView):
    """The chargeback as FOCUS 1.0 rows (CSV), streamed: a year is written as it is read, never held whole."""

    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, CanReadChargeback]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        parameters=[FocusQuerySerializer],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR, description="FOCUS 1.0 columns; one row per namespace, tier, day and charge."
            )
        },
        description="FinOps Open Cost and Usage Specification (FOCUS 1.0) export of [start, end) in UTC: "
        "BilledCost, EffectiveCost and ListCost are the chargeback report's costs (no discounts), "
        "PricingQuantity the reserved or burst unit-hours, Tags the team, cost center, GPU tier and cluster. "
        "Corrections of closed months have ChargeClass Correction. Same money as the CSV by namespace and day.",
    )
    def get(self, request) -> StreamingHttpResponse:
        parameters = FocusQuerySerializer(data=request.query_params)
        parameters.is_valid(raise_exception=True)
        data = parameters.validated_data
        rows = focus_rows(
            data["start"], data["end"], viewer=request.user, cost_center=data["cost_center"], cluster=data["cluster"]
        )
        response = StreamingHttpResponse(stream_csv(FOCUS_COLUMNS, rows), content_type="text/csv; charset=utf-8")
        name = f"focus-{VERSION}-{data['start']:%Y-%m-%d}-{data['end']:%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "private, no-cache"
        return response
