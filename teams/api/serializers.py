"""What the API shows of teams, namespaces and requests, field by field."""

import copy
import math
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from teams.api.fields import StrictBooleanField, StrictCharField, StrictIntegerField, StrictSlugRelatedField
from teams.autoapproval import RULE_FIELDS, rule_values, save_rule
from teams.catalog import PriceList, TierCatalog
from teams.limits import MAX_GRANT_DAYS, MAX_NAME_LENGTH, MAX_NOTE_LENGTH, MAX_RULE_NAME_LENGTH
from teams.models import (
    AutoApprovalRule,
    Cluster,
    Comment,
    CostCenter,
    GpuResource,
    GpuTier,
    Grant,
    Membership,
    Rate,
    Request,
    Team,
    TeamNamespace,
)
from teams.usage import usage_rows

#: A namespace spec is a few levels deep; far deeper is an attack or a bug.
MAX_DEPTH = 32


class CostCenterSerializer(serializers.ModelSerializer):
    teams = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)

    class Meta:
        model = CostCenter
        fields = ["code", "name", "owner_contact", "teams"]


class GpuResourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = GpuResource
        fields = ["name", "weight", "description"]


class GpuTierSerializer(serializers.ModelSerializer):
    """A tier, and its GPU-hour prices today from the tier catalog's rates (changed in the admin only)."""

    gpu_resources = GpuResourceSerializer(
        many=True,
        read_only=True,
        help_text="GPU resources a namespace of this tier may hold, each with its weight in GPU-equivalents per unit.",
    )
    reserved_gpu_hour_rate = serializers.SerializerMethodField(help_text="Price of one guaranteed GPU-hour today.")
    used_gpu_hour_rate = serializers.SerializerMethodField(
        help_text="Price of one GPU-hour used beyond guaranteed today."
    )

    class Meta:
        model = GpuTier
        fields = [
            "slug",
            "name",
            "priority_class_name",
            "priority_value",
            "preemption_policy",
            "description",
            "allows_guaranteed_gpus",
            "max_guaranteed_gpus",
            "max_gpu_limit",
            "enforces_gpu_burst",
            "gpu_resources",
            "default_quota_hard",
            "default_limit_range",
            "reserved_gpu_hour_rate",
            "used_gpu_hour_rate",
        ]

    def _prices(self, tier: GpuTier) -> dict[str, Decimal]:
        prices: PriceList = self.context["prices"]
        return prices.gpu_prices(tier, timezone.now().date())

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=6))
    def get_reserved_gpu_hour_rate(self, tier: GpuTier) -> str:
        return str(self._prices(tier)[Rate.Kind.RESERVED])

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=6))
    def get_used_gpu_hour_rate(self, tier: GpuTier) -> str:
        return str(self._prices(tier)[Rate.Kind.BURST])


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role"]


class TeamSerializer(serializers.ModelSerializer):
    cost_center = serializers.SlugRelatedField(slug_field="code", read_only=True)
    default_tier = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    members = MemberSerializer(source="memberships", many=True, read_only=True)

    class Meta:
        model = Team
        fields = ["slug", "name", "cost_center", "default_tier", "members"]


class QuotaUsageSerializer(serializers.Serializer):
    quota = serializers.CharField()
    resource = serializers.CharField()
    hard = serializers.CharField()
    used = serializers.CharField(
        allow_null=True,
        help_text="Null (unknown) before the first sync, with hard then the desired value, and while the quota "
        "controller has not reported it.",
    )


#: GPU-equivalents in the API: a decimal string with six places, as the catalog's weights have.
GPU_EQUIVALENTS = serializers.DecimalField(max_digits=16, decimal_places=6, read_only=True)


class NamespaceSerializer(serializers.ModelSerializer):
    """Desired state (what was approved), observed state (what the cluster reports) and usage now."""

    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    cost_center = serializers.CharField(source="team.cost_center.code", read_only=True)
    tier = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    guaranteed_gpus = serializers.SerializerMethodField()
    gpu_limit = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()

    class Meta:
        model = TeamNamespace
        fields = [
            "id",
            "cluster",
            "name",
            "team",
            "cost_center",
            "tier",
            "labels",
            "quotas",
            "limit_range",
            "guaranteed_gpus",
            "gpu_limit",
            "phase",
            "observed_quotas",
            "usage",
            "is_drifted",
            "drift",
            "created_at",
            "adopted_at",
            "deletion_requested_at",
            "deleted_at",
            "last_applied_at",
            "last_synced_at",
            "reconcile_state",
            "reconcile_error",
            "reconcile_failed_at",
        ]

    def _allocation(self, namespace: TeamNamespace):
        catalog: TierCatalog = self.context["catalog"]
        return catalog.gpu_allocation(namespace.quotas, namespace.tier)

    @extend_schema_field(GPU_EQUIVALENTS)
    def get_guaranteed_gpus(self, namespace: TeamNamespace) -> str:
        """GPU-equivalents: whole GPUs, and MIG slices and shared GPUs by their weights, as a decimal string."""
        return GPU_EQUIVALENTS.to_representation(self._allocation(namespace).guaranteed)

    @extend_schema_field(GPU_EQUIVALENTS)
    def get_gpu_limit(self, namespace: TeamNamespace) -> str:
        return GPU_EQUIVALENTS.to_representation(self._allocation(namespace).limit)

    @extend_schema_field(QuotaUsageSerializer(many=True))
    def get_usage(self, namespace: TeamNamespace) -> list[dict]:
        """Every quota key as `kubectl describe resourcequota` shows it: the rows the pages show."""
        return QuotaUsageSerializer(usage_rows(namespace), many=True).data


class ChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The spec path, named as policy errors name it.")
    object = serializers.CharField(help_text="The quota, LimitRange item or namespace the key belongs to.")
    key = serializers.CharField()
    current = serializers.CharField(allow_null=True, help_text="Null when the key is added.")
    proposed = serializers.CharField(allow_null=True, help_text="Null when the key is removed.")
    change = serializers.ChoiceField(choices=Request.Change.choices)


class GrantSerializer(serializers.ModelSerializer):
    """What an approved time-boxed request gave, until when, and the request that took it back (teams.grants)."""

    class Meta:
        model = Grant
        fields = ["id", "until", "ends_at", "ended_at", "creates_namespace", "baseline", "reversion"]
        read_only_fields = fields


class RequestSerializer(serializers.ModelSerializer):
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    until = serializers.DateField(
        read_only=True, allow_null=True, help_text="A time-boxed request: the last day it is for; null for good."
    )
    extends = serializers.IntegerField(
        source="extends_id",
        read_only=True,
        allow_null=True,
        help_text="An extension request: the grant (its `grant.id`) whose end it moves.",
    )
    grant = serializers.SerializerMethodField(help_text="Once a time-boxed request is approved: its grant.")
    namespace = serializers.IntegerField(source="namespace_id", read_only=True, allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, allow_null=True, default=None)
    changes = ChangeSerializer(
        many=True,
        read_only=True,
        help_text="What approval changes in the namespace, one row per key; bulk approval skips removals.",
    )
    first_changes = ChangeSerializer(
        many=True, read_only=True, help_text="The changes the first version asked for; see `revision`."
    )
    granted_changes = ChangeSerializer(
        many=True,
        read_only=True,
        help_text="When the approver granted less than asked: what the grant changes (it is what was applied). "
        "Empty when granted as asked.",
    )

    class Meta:
        model = Request
        fields = [
            "id",
            "kind",
            "state",
            "team",
            "namespace",
            "namespace_name",
            "cluster",
            "proposed_spec",
            "changes",
            "revision",
            "first_changes",
            "granted_spec",
            "granted_changes",
            "warnings",
            "justification",
            "requested_by",
            "reviewed_by",
            "decision_note",
            "last_error",
            "created_at",
            "updated_at",
            "decided_at",
            "applied_at",
            "until",
            "extends",
            "grant",
        ]
        read_only_fields = fields

    @extend_schema_field(GrantSerializer(allow_null=True))
    def get_grant(self, item: Request) -> dict | None:
        grant = getattr(item, "grant", None) if item.until is not None else None
        return GrantSerializer(grant).data if grant is not None else None


class RequestCreateSerializer(serializers.Serializer):
    """What a team lead submits; everything beyond types is checked by the policy (teams.policy)."""

    kind = serializers.ChoiceField(choices=Request.Kind.choices)
    team = StrictSlugRelatedField(slug_field="slug", queryset=Team.objects.none())
    namespace = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=MAX_NAME_LENGTH,
        help_text="Name of the live namespace to change; not for create_namespace.",
    )
    namespace_name = StrictCharField(
        required=False,
        allow_blank=True,
        help_text="Name of the namespace to create (create_namespace only); the policy checks it.",
    )
    cluster = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_NAME_LENGTH,
        help_text="The cluster: where to create the namespace (create_namespace; the policy checks the team may "
        "use it), or where `namespace` is. Empty: the default cluster.",
    )
    proposed_spec = serializers.JSONField(
        help_text="A merge patch over the namespace's spec, with the sections the kind may change (tier, labels, "
        "quotas, limitRange). What it omits is kept: a quota named in `quotas` changes only the `hard` keys it "
        "gives, a LimitRange item (by `type`) only the bounds it gives. A removal is explicit: `null` removes a "
        'key (`"hard": {"pods": null}`, a `scopeSelector`, a bound, or `"limitRange": null`); '
        '`"removeQuotas": ["old-quota"]` removes quotas and `"removeLimits": ["PersistentVolumeClaim"]` '
        "LimitRange items. The stored `proposed_spec` holds each section it touches whole; a request that changes "
        "nothing is refused."
    )
    justification = StrictCharField(allow_blank=True, help_text="Why the team needs this; approvers read it.")
    until = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="Time-boxed (create_namespace, or a change_quota that raises an amount): the last day, YYYY-MM-DD, "
        f"after today and at most {MAX_GRANT_DAYS} days ahead; at its end the namespace goes back on its own. "
        "Empty: for good.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["team"].queryset = Team.objects.visible_to(request.user)

    def validate_proposed_spec(self, value: object) -> object:
        check_storable(value)
        return value

    def validate(self, attrs: dict) -> dict:
        name = attrs.pop("namespace", "") or ""
        attrs["namespace"] = None
        if name:
            cluster = attrs["cluster"] or Cluster.objects.get_default().name
            namespace = (
                TeamNamespace.objects.live()
                .visible_to(self.context["request"].user)
                .select_related("cluster", "team__cost_center", "tier")
                .at(cluster, name)
                .first()
            )
            if namespace is None:
                raise serializers.ValidationError(
                    {"namespace": [f"There is no namespace {name!r} on cluster {cluster!r} you can see."]}
                )
            attrs["namespace"] = namespace
        return attrs


#: More amounts than any request can change is no grant.
MAX_GRANTED = 256


class ApproveSerializer(serializers.Serializer):
    note = StrictCharField(required=False, allow_blank=True, default="")
    override_capacity = StrictBooleanField(
        required=False,
        default=False,
        help_text="Approve even when the cluster's guaranteed GPUs would exceed its capacity.",
    )
    granted = serializers.DictField(
        child=StrictCharField(max_length=64),
        required=False,
        default=dict,
        help_text="Grant part of what was asked: `field` of a `changes` row -> the amount granted, between the "
        'current amount and the one asked, e.g. {"quotas[ml-research-quota].hard[requests.nvidia.com/gpu]": "12"}. '
        "The grant is what the namespace gets; the request keeps both.",
    )
    until = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=40,
        help_text="A time-boxed request: an earlier last day (YYYY-MM-DD) than asked; never a later one.",
    )

    def validate_granted(self, value: dict) -> dict:
        if len(value) > MAX_GRANTED:
            raise serializers.ValidationError(f"At most {MAX_GRANTED} amounts.")
        return value


class ResubmitSerializer(serializers.Serializer):
    """The next version of a request sent back for changes, in the shape it was first submitted in."""

    proposed_spec = serializers.JSONField(
        help_text="A merge patch over the namespace's current spec, as at submission."
    )
    justification = StrictCharField(allow_blank=True)
    until = StrictCharField(
        required=False, allow_blank=True, default="", max_length=40, help_text="As at submission; empty: for good."
    )
    namespace_name = StrictCharField(
        required=False, allow_blank=True, default="", help_text="create_namespace only: the name may change too."
    )
    cluster = StrictCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_NAME_LENGTH,
        help_text="create_namespace only: the cluster may change too; empty keeps it.",
    )

    def validate_proposed_spec(self, value: object) -> object:
        check_storable(value)
        return value


class ExtensionSerializer(serializers.Serializer):
    """An extension of a time-boxed grant: a later last day, and why (with the usage that shows it)."""

    until = StrictCharField(max_length=40, help_text="The new last day, YYYY-MM-DD, after the grant's.")
    justification = StrictCharField(allow_blank=True)


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username", read_only=True)
    body = StrictCharField(max_length=MAX_NOTE_LENGTH, allow_blank=True)

    class Meta:
        model = Comment
        fields = ["id", "author", "body", "revision", "created_at"]
        read_only_fields = ["id", "author", "revision", "created_at"]


class NoteSerializer(serializers.Serializer):
    """A rejection's or a request for changes' note."""

    note = StrictCharField(allow_blank=True, help_text="Why, or what to change; required, the requester reads it.")


def check_storable(value: object, path: str = "proposed_spec", depth: int = 0) -> None:
    """Refuse what a JSON column cannot hold (NaN, infinities, absurd nesting) before the policy.

    Text no column can hold (NUL, unpaired surrogates) is refused earlier, by the JSON parser.
    """
    if depth > MAX_DEPTH:
        raise serializers.ValidationError(f"{path} is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, path, depth + 1)
            check_storable(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_storable(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise serializers.ValidationError(f"{path} must be a finite number.")


class AutoApprovalRuleSerializer(serializers.ModelSerializer):
    """An approver's auto-approval rule; its bounds and checks are the model's, as on the rules page."""

    name = StrictCharField(max_length=MAX_RULE_NAME_LENGTH)
    order = StrictIntegerField()
    mode = serializers.ChoiceField(choices=AutoApprovalRule.Mode.choices, default=AutoApprovalRule.Mode.DRY_RUN)
    kind = serializers.ChoiceField(choices=Request.Kind.choices, allow_blank=True, required=False)
    tier = StrictSlugRelatedField(slug_field="slug", queryset=GpuTier.objects.all(), allow_null=True, required=False)
    max_more_gpus = StrictIntegerField(allow_null=True, required=False)
    min_usage_percent = StrictIntegerField(allow_null=True, required=False)
    usage_days = StrictIntegerField(allow_null=True, required=False)
    min_headroom_percent = StrictIntegerField(allow_null=True, required=False)
    max_per_team_per_month = StrictIntegerField(allow_null=True, required=False)
    max_grant_days = StrictIntegerField(allow_null=True, required=False)

    class Meta:
        model = AutoApprovalRule
        fields = ["id", *RULE_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators = []  # the model's full_clean checks the name's uniqueness with the page's message

    def validate(self, attrs: dict) -> dict:
        rule = copy.copy(self.instance) if self.instance is not None else AutoApprovalRule()
        for name, value in attrs.items():
            setattr(rule, name, value)
        try:
            rule.full_clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        self.rule = rule
        return attrs

    def create(self, validated_data: dict) -> AutoApprovalRule:
        return save_rule(self.rule, actor=self.context["request"].user)

    def update(self, instance: AutoApprovalRule, validated_data: dict) -> AutoApprovalRule:
        return save_rule(self.rule, actor=self.context["request"].user, before=rule_values(instance))
