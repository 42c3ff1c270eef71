"""REST endpoints for clusters, usage samples, and the API server's verdict on a request."""

from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema
from rest_framework import generics, viewsets
from rest_framework.response import Response

from provisioning.api.filtersets import UsageSampleFilterSet
from provisioning.api.serializers import ClusterSerializer, DryRunSerializer, UsageSampleSerializer
from provisioning.applying import dry_run_request
from provisioning.models import ClusterConnection, UsageSample
from teams import roles
from teams.api.mixins import VisibleToUserMixin
from teams.api.pagination import TimeCursorPagination
from teams.models import Request, TeamNamespace


class ClusterViewSet(VisibleToUserMixin, viewsets.ReadOnlyModelViewSet):
    """Clusters: GPU capacity, guaranteed GPUs promised against it, last sync."""

    queryset = ClusterConnection.objects.select_related("cluster").annotate(
        guaranteed_gpus=Coalesce(
            Subquery(
                TeamNamespace.objects.live()
                .filter(cluster=OuterRef("cluster"))
                .values("cluster")
                .annotate(total=Sum("guaranteed_gpus"))
                .values("total")
            ),
            Value(Decimal(0)),
            output_field=DecimalField(max_digits=16, decimal_places=6),
        )
    )
    serializer_class = ClusterSerializer
    lookup_field = "cluster__name"
    lookup_url_kwarg = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]{1,63}"
    ordering_fields = ["cluster__name"]
    ordering = ["cluster__name"]


class UsageSampleViewSet(VisibleToUserMixin, viewsets.ReadOnlyModelViewSet):
    """Usage samples: a step function per namespace, quota and resource (a value holds until the next one).

    Samples are stored when `hard` or `used` changes, plus an hourly heartbeat; filter by
    namespace, resource and a time range [start, end).
    """

    queryset = UsageSample.objects.select_related("cluster", "namespace").only(
        "id", "cluster__name", "namespace__name", "namespace_id", "quota_name", "resource", "time", "hard", "used"
    )
    serializer_class = UsageSampleSerializer
    filterset_class = UsageSampleFilterSet
    pagination_class = TimeCursorPagination
    ordering_fields = None  # the cursor fixes the order: time, then id


class RequestDryRunView(VisibleToUserMixin, generics.GenericAPIView):
    """The dry-run action of /requests/: lives here because it talks to the cluster (teams must not)."""

    queryset = Request.objects.select_related("team", "namespace__tier")
    serializer_class = DryRunSerializer
    lookup_url_kwarg = "pk"
    filter_backends = []
    pagination_class = None

    @extend_schema(
        operation_id="requests_dry_run_create",
        tags=["requests"],
        request=None,
        responses={200: DryRunSerializer},
        description="Ask the cluster's API server about a request with dryRun=All (approvers); nothing is "
        "stored. `accepted` says whether the API server takes every object the request would apply.",
    )
    def post(self, request, pk: int) -> Response:
        item = self.get_object()
        roles.require_approver(request.user)
        verdict = dry_run_request(item)
        return Response(DryRunSerializer(verdict).data)
