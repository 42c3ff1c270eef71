"""REST endpoints for cost centers, tiers, teams, namespaces and requests.

Declarative and thin: what a user sees is decided by VisibleToUserMixin, what a user may
do by teams.workflow, which the pages call too.
"""

from django.core.exceptions import ValidationError
from django.db.models import F, Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.settings import api_settings

from teams import conversation, workflow
from teams.api.filtersets import NamespaceFilterSet, RequestFilterSet, TeamFilterSet
from teams.api.mixins import MAX_ID_DIGITS, VisibleToUserMixin
from teams.api.permissions import ApproversWrite
from teams.api.schema import ErrorSerializer
from teams.api.serializers import (
    ApproveSerializer,
    AutoApprovalRuleSerializer,
    CommentSerializer,
    CostCenterSerializer,
    ExtensionSerializer,
    GpuTierSerializer,
    NamespaceSerializer,
    NoteSerializer,
    RequestCreateSerializer,
    RequestSerializer,
    ResubmitSerializer,
    TeamSerializer,
)
from teams.catalog import PriceList, TierCatalog
from teams.models import (
    AutoApprovalRule,
    Cluster,
    Comment,
    CostCenter,
    GpuTier,
    Grant,
    Membership,
    Request,
    Team,
    TeamNamespace,
)

SLUG_REGEX = r"[-a-zA-Z0-9_]{1,63}"


class CostCenterViewSet(VisibleToUserMixin, viewsets.ReadOnlyModelViewSet):
    """Who pays. Team members see their teams' cost centers; approvers and finance see all."""

    queryset = CostCenter.objects.all()
    serializer_class = CostCenterSerializer
    lookup_field = "code"
    lookup_value_regex = SLUG_REGEX
    ordering_fields = ["code", "name"]
    ordering = ["code"]

    def get_queryset(self):
        visible_teams = Team.objects.visible_to(self.request.user).only("slug", "cost_center_id").order_by("slug")
        return super().get_queryset().prefetch_related(Prefetch("teams", queryset=visible_teams))


class GpuTierViewSet(VisibleToUserMixin, viewsets.ReadOnlyModelViewSet):
    """Classes of service, their limits, the GPU resources they allow (with weights) and their prices."""

    queryset = GpuTier.objects.prefetch_related("gpu_resources")
    serializer_class = GpuTierSerializer
    lookup_field = "slug"
    lookup_value_regex = SLUG_REGEX
    filterset_fields = ["allows_guaranteed_gpus", "enforces_gpu_burst"]
    ordering_fields = ["slug", "priority_value"]
    ordering = ["-priority_value", "slug"]

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "prices": PriceList()}


class TeamViewSet(VisibleToUserMixin, viewsets.ReadOnlyModelViewSet):
    """Teams with their members and roles."""

    queryset = Team.objects.select_related("cost_center", "default_tier").prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("role", "user__username"))
    )
    serializer_class = TeamSerializer
    filterset_class = TeamFilterSet
    lookup_field = "slug"
    lookup_value_regex = SLUG_REGEX
    ordering_fields = ["slug", "name"]
    ordering = ["slug"]


class NamespaceViewSet(VisibleToUserMixin, viewsets.ReadOnlyModelViewSet):
    """Namespaces: desired state, what the cluster reports, and usage against quota now.

    Namespaces change only through requests.
    """

    queryset = TeamNamespace.objects.select_related("cluster", "team__cost_center", "tier")
    serializer_class = NamespaceSerializer
    filterset_class = NamespaceFilterSet
    ordering_fields = ["name", "created_at", "last_synced_at"]
    ordering = ["name", "id"]
    #: People know a namespace by its cluster and name (`gpu-b/ml-research`); a name alone is the default
    #: cluster's, as links from before clusters keep working; its number works too.
    lookup_value_regex = r"(?:[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?/)?[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?"

    def get_object(self) -> TeamNamespace:
        """By cluster and name (the live namespace, else the last deleted of that name), else by id; 404
        alike for another team's namespace and for none at all."""
        value = self.kwargs[self.lookup_field]
        queryset = self.filter_queryset(self.get_queryset())
        cluster, _, name = value.rpartition("/")
        named = queryset.at(cluster or Cluster.objects.get_default().name, name)
        found = named.order_by(F("deleted_at").desc(nulls_first=True), "-id").first()
        if found is None and not cluster and value.isdigit() and len(value) <= MAX_ID_DIGITS:
            found = queryset.filter(pk=int(value)).first()
        if found is None:
            raise NotFound()
        self.check_object_permissions(self.request, found)
        return found

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "catalog": TierCatalog.load()}


@extend_schema_view(
    create=extend_schema(
        request=RequestCreateSerializer,
        responses={201: RequestSerializer},
        description="Submit a request as a lead of its team; the policy checks it before anything is stored.",
    ),
)
class RequestViewSet(VisibleToUserMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Requests and their way through approval; every change goes through teams.workflow."""

    queryset = Request.objects.select_related("team", "cluster", "requested_by", "reviewed_by")
    serializer_class = RequestSerializer
    filterset_class = RequestFilterSet
    ordering_fields = ["created_at", "updated_at", "id"]
    ordering = ["-created_at", "-id"]

    def create(self, request, *args, **kwargs) -> Response:
        body = RequestCreateSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        created = workflow.submit_request(
            actor=request.user,
            team=body.validated_data["team"],
            kind=body.validated_data["kind"],
            namespace=body.validated_data["namespace"],
            namespace_name=body.validated_data.get("namespace_name", ""),
            cluster=body.validated_data["cluster"] or None,
            proposed=body.validated_data["proposed_spec"],
            justification=body.validated_data["justification"],
            until=body.validated_data["until"],
        )
        return Response(self._show(created), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ApproveSerializer,
        responses={
            200: RequestSerializer,
            409: OpenApiResponse(
                ErrorSerializer,
                description="Not pending (code invalid_transition), or approving would guarantee more GPUs than "
                "the cluster has (code capacity_exceeded, with the numbers in `capacity`; send "
                "override_capacity to approve anyway).",
            ),
        },
        description="Approve a pending request (approvers; never one's own), in full or, with `granted`, in part. "
        "The approved spec becomes the namespace's desired state and provisioning applies it.",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None) -> Response:
        item = self.get_object()
        body = ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        approved = workflow.approve_request(item.pk, actor=request.user, **body.validated_data)
        return Response(self._show(approved))

    @extend_schema(
        request=NoteSerializer,
        responses={200: RequestSerializer},
        description="Reject a request not yet decided (approvers), saying why in `note`.",
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None) -> Response:
        return self._with_note(workflow.reject_request)

    @extend_schema(
        request=NoteSerializer,
        responses={200: RequestSerializer},
        description="Send a pending request back to its requester (approvers), saying in `note` what to change; "
        "the note opens the request's conversation. The requester answers with `resubmit`.",
    )
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(self, request, pk=None) -> Response:
        return self._with_note(workflow.request_changes)

    @extend_schema(
        request=ResubmitSerializer,
        responses={200: RequestSerializer},
        description="Send the next version of a request whose approver asked for changes (its requester only). The "
        "policy checks it as at submission; `first_changes` keeps what the first version asked for.",
    )
    @action(detail=True, methods=["post"])
    def resubmit(self, request, pk=None) -> Response:
        item = self.get_object()
        body = ResubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        resubmitted = workflow.resubmit_request(
            item.pk,
            actor=request.user,
            proposed=body.validated_data["proposed_spec"],
            justification=body.validated_data["justification"],
            namespace_name=body.validated_data["namespace_name"],
            cluster=body.validated_data["cluster"] or None,
            until=body.validated_data["until"],
        )
        return Response(self._show(resubmitted))

    @extend_schema(
        request=ExtensionSerializer,
        responses={201: RequestSerializer},
        description="Ask for a time-boxed request's grant to last longer (a lead of its team): a new request, "
        "decided like any other, whose approval moves the grant's end and changes no quota.",
    )
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None) -> Response:
        item = self.get_object()
        grant = Grant.objects.filter(request=item).first()
        if grant is None:
            raise ValidationError({"until": "Only an approved time-boxed request has a grant to extend."})
        body = ExtensionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        extension = workflow.submit_extension(grant.pk, actor=request.user, **body.validated_data)
        return Response(self._show(extension), status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["get"],
        responses={200: CommentSerializer(many=True)},
        description="The request's conversation, oldest first.",
    )
    @extend_schema(
        methods=["post"],
        request=CommentSerializer,
        responses={201: CommentSerializer},
        description="Add a comment (the request's team and the approvers); it is audited.",
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def comments(self, request, pk=None) -> Response:
        item = self.get_object()
        if request.method == "GET":
            thread = Comment.objects.visible_to(request.user).filter(request=item).select_related("author")
            return Response(CommentSerializer(thread, many=True).data)
        body = CommentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = conversation.add_comment(item, actor=request.user, body=body.validated_data["body"])
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={200: RequestSerializer},
        description="Cancel a request not yet decided: pending, or sent back for changes (its requester only).",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None) -> Response:
        item = self.get_object()
        return Response(self._show(workflow.cancel_request(item.pk, actor=request.user)))

    @extend_schema(
        request=None,
        responses={200: RequestSerializer},
        description="Send a failed request back to provisioning (approvers), or one stuck applying: applying for "
        "longer than PROVISIONING_STUCK_AFTER_SECONDS.",
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None) -> Response:
        item = self.get_object()
        return Response(self._show(workflow.retry_request(item.pk, actor=request.user)))

    def _with_note(self, transition) -> Response:
        """A transition an approver explains in a `note` the requester reads."""
        item = self.get_object()
        body = NoteSerializer(data=self.request.data)
        body.is_valid(raise_exception=True)
        return Response(self._show(transition(item.pk, actor=self.request.user, note=body.validated_data["note"])))

    def _show(self, item: Request) -> dict:
        return RequestSerializer(self.get_queryset().get(pk=item.pk), context=self.get_serializer_context()).data


class AutoApprovalRuleViewSet(
    VisibleToUserMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Auto-approval rules, the approvers' own: the same checks as the rules page; every save is audited."""

    queryset = AutoApprovalRule.objects.select_related("tier")
    serializer_class = AutoApprovalRuleSerializer
    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, ApproversWrite]
    ordering_fields = ["order", "name"]
    ordering = ["order", "pk"]
