"""The request form: which inputs each kind of request shows, and the spec they propose.

Inputs are named after the spec path they fill, and each knows the field name the
policy uses for it (`quotas[ml-research-quota].hard[requests.cpu]`), so that the
policy's findings land next to the input they are about. The rules themselves stay
in teams.policy; nothing here judges a value.
"""

import re
from dataclasses import dataclass, field

from django import forms as django_forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from teams.autoapproval import RULE_FIELDS
from teams.catalog import TierCatalog, gpu_input_words, gpu_share_words, tier_default_spec
from teams.constants import GPU_RESOURCE, GUARANTEED_GPU_KEY, QUOTA_KEYS
from teams.grants import GRANT_KINDS
from teams.models import AutoApprovalRule, Cluster, GpuTier, Request, Team, TeamNamespace
from teams.policy import Finding, PolicyReport
from teams.roles import require_lead
from teams.specs import REMOVE_LIMITS, SECTIONS, SYSTEM_KINDS, namespace_spec, resolve_proposal, spec_changes

Kind = Request.Kind

LIMIT_FIELDS = ["min", "defaultRequest", "default", "max"]
LIMIT_ROWS = [
    ("Container", "cpu"),
    ("Container", "memory"),
    ("Container", "nvidia.com/gpu"),
    ("PersistentVolumeClaim", "storage"),
]
PVC_FIELDS = ["min", "max"]
DEFAULT_LIMIT_RANGE_NAME = "default-limits"
#: A new namespace's quotas are named after it: the tier's default `namespace-quota` becomes `<name>-quota`.
NEW_QUOTA_PREFIX = "namespace"


@dataclass
class Input:
    name: str
    label: str
    value: str
    policy_field: str
    help: str = ""
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^a-zA-Z0-9_-]", "-", self.name)


@dataclass
class QuotaBlock:
    name: str
    scoped: bool
    inputs: list[Input]


@dataclass
class LimitRow:
    kind: str
    resource: str
    cells: list[Input | None]


@dataclass
class RequestForm:
    """The inputs of one kind of request, filled from the current spec or the posted values."""

    kind: str
    team: Team | None
    namespace: TeamNamespace | None
    name: Input | None = None
    cluster: Input | None = None
    tier: Input | None = None
    justification: Input | None = None
    force: Input | None = None
    until: Input | None = None
    quotas: list[QuotaBlock] = field(default_factory=list)
    limit_range_name: str = ""
    limit_rows: list[LimitRow] = field(default_factory=list)
    base_spec: dict = field(default_factory=dict)
    report: PolicyReport | None = None
    unplaced_errors: list[tuple[str, str]] = field(default_factory=list)
    unplaced_warnings: list[Finding] = field(default_factory=list)

    @property
    def shows_quotas(self) -> bool:
        return self.kind in (Kind.CREATE_NAMESPACE, Kind.CHANGE_QUOTA)

    @property
    def shows_limit_range(self) -> bool:
        return self.kind in (Kind.CREATE_NAMESPACE, Kind.CHANGE_LIMIT_RANGE)

    def inputs(self) -> list[Input]:
        singles = [self.name, self.cluster, self.tier, self.force, self.until, self.justification]
        quota_inputs = [i for block in self.quotas for i in block.inputs]
        limit_inputs = [cell for row in self.limit_rows for cell in row.cells if cell is not None]
        return [i for i in singles if i is not None] + quota_inputs + limit_inputs

    def proposed(self) -> dict:
        """The merge patch this kind of request sends, from the inputs' values.

        Each quota is sent whole as shown; an input emptied that held a value is an explicit
        removal (null), and so is a LimitRange item (removeLimits) or the whole LimitRange
        (null) whose every input was emptied. What the form does not show is kept.
        """
        proposed: dict = {}
        if self.kind == Kind.CREATE_NAMESPACE or self.kind == Kind.CHANGE_TIER:
            proposed["tier"] = self.tier.value
        if self.kind == Kind.DELETE_NAMESPACE:
            proposed["force"] = self.force.value == "on"
        if self.shows_quotas:
            current = {quota["name"]: quota["hard"] for quota in self.current_spec().get("quotas") or []}
            shown = {quota["name"]: quota for quota in self.base_spec.get("quotas") or []}
            proposed["quotas"] = []
            for block in self.quotas:
                hard: dict = {}
                for item in block.inputs:
                    key = item.name.split("|", 2)[2]
                    if item.value.strip():
                        hard[key] = item.value.strip()
                    elif key in current.get(block.name, {}):
                        hard[key] = None
                quota = {"name": self.quota_name(block), "hard": hard}
                if block.scoped and self.namespace is None:
                    # A new namespace has no quota to keep a scope from: the tier's default brings it.
                    quota["scopeSelector"] = shown[block.name]["scopeSelector"]
                proposed["quotas"].append(quota)
        if self.shows_limit_range:
            proposed.update(self.proposed_limit_range())
        return proposed

    def proposed_limit_range(self) -> dict:
        current = self.current_spec().get("limitRange") or {}
        existing = {item["type"]: item for item in current.get("limits") or []}
        limits: dict[str, dict] = {}
        for row in self.limit_rows:
            for cell in row.cells:
                if cell is None:
                    continue
                bound = cell.name.split("|")[2]
                value = cell.value.strip() or None
                if value is not None or row.resource in (existing.get(row.kind) or {}).get(bound, {}):
                    limits.setdefault(row.kind, {"type": row.kind}).setdefault(bound, {})[row.resource] = value
        emptied: list[str] = []
        for kind in [kind for kind in limits if kind in existing]:
            shown = [cell for row in self.limit_rows if row.kind == kind for cell in row.cells if cell is not None]
            if not any(cell.value.strip() for cell in shown):
                emptied.append(kind)
                del limits[kind]
        if existing and len(emptied) == len(existing):
            return {"limitRange": None}
        patch: dict = {"limitRange": {}}
        if limits:
            name = self.limit_range_name or DEFAULT_LIMIT_RANGE_NAME
            patch["limitRange"] = {"name": name, "limits": list(limits.values())}
        if emptied:
            patch[REMOVE_LIMITS] = emptied
        return patch

    def current_spec(self) -> dict:
        """What the request changes: the namespace's spec, or nothing for a new namespace."""
        return namespace_spec(self.namespace) if self.namespace is not None else {}

    def resolved(self) -> dict:
        """The sections as approval would leave them (before the policy normalises quantities)."""
        return resolve_proposal(self.kind, self.current_spec(), self.proposed()).spec

    def changes(self) -> list[dict]:
        return spec_changes(self.current_spec(), self.resolved())

    def quota_name(self, block: QuotaBlock) -> str:
        if self.kind == Kind.CREATE_NAMESPACE:
            prefix = (self.name.value or NEW_QUOTA_PREFIX).strip()
            return f"{prefix}-{block.name.removeprefix(NEW_QUOTA_PREFIX + '-')}"
        return block.name

    def annotate(self, report: PolicyReport) -> None:
        """Put each finding next to its input; the rest is shown above the form."""
        self.report = report
        by_field = {item.policy_field: item for item in self.inputs()}
        if self.kind == Kind.CREATE_NAMESPACE:
            # The policy names the new quota after the namespace; the inputs know it as its block.
            for block in self.quotas:
                for item in block.inputs:
                    key = item.name.split("|", 2)[2]
                    by_field[f"quotas[{self.quota_name(block)}].hard[{key}]"] = item
        for finding in report.errors:
            target = by_field.get(finding.field)
            if target is not None:
                target.errors.append(finding.message)
            else:
                self.unplaced_errors.append((finding.field, finding.message))
        # Each warning once: next to its input if it has one, else in the list above the form; what
        # already held before the request goes to its own list, apart from what the request introduces.
        for finding in report.new_warnings:
            target = by_field.get(finding.field)
            if target is not None:
                target.warnings.append(finding.message)
            else:
                self.unplaced_warnings.append(finding)


def resolve_target(user, kind: str, source) -> tuple[Team, TeamNamespace | None]:
    """The team (and namespace) a request is for, from the form's values; only its lead may ask.

    A namespace the user may not see does not exist for them (404), whatever else they may do.
    """
    if kind not in SECTIONS or kind in SYSTEM_KINDS:  # adoption and proposals never come from a lead's form
        raise PermissionDenied("Unknown kind of request.")
    namespace = None
    if kind == Kind.CREATE_NAMESPACE:
        teams = lead_teams(user)
        chosen = source.get("team")
        team = next((t for t in teams if str(t.pk) == chosen or t.slug == chosen), teams[0] if teams else None)
        if team is None:
            raise PermissionDenied("Only team leads can ask for namespaces.")
    else:
        # Links from before clusters named no cluster: the default cluster's namespace of that name.
        cluster = source.get("cluster") or Cluster.objects.get_default().name
        namespaces = TeamNamespace.objects.live().visible_to(user)
        namespaces = namespaces.select_related("cluster", "team__cost_center", "tier")
        namespace = get_object_or_404(namespaces.at(cluster, source.get("namespace", "")))
        team = namespace.team
    require_lead(user, team)
    return team, namespace


def lead_teams(user) -> list[Team]:
    return list(Team.objects.led_by(user).select_related("default_tier"))


def build_form(
    kind: str, *, team: Team | None, namespace: TeamNamespace | None, data=None, posted: bool = False
) -> RequestForm:
    """The form for `kind`: posted values as they were sent (a missing input is an empty one), or
    prefilled from the namespace, or for a new namespace from the tier's defaults (`data` may choose
    the tier)."""
    data = data or {}
    form = RequestForm(kind=kind, team=team, namespace=namespace)
    tier_slug = data.get("tier") or (namespace.tier.slug if namespace else team.default_tier.slug if team else "")
    catalog = TierCatalog.load()
    if namespace is not None:
        tier = namespace.tier
        base = namespace_spec(namespace)
    else:
        tier = catalog.by_slug.get(tier_slug)
        base = tier_default_spec(tier, NEW_QUOTA_PREFIX, catalog) if tier else {"quotas": [], "limitRange": {}}
    form.base_spec = base
    if kind == Kind.CREATE_NAMESPACE:
        form.name = Input("namespace_name", "Namespace name", data.get("namespace_name", ""), "namespace_name")
        chosen = data.get("cluster") or Cluster.objects.get_default().name
        form.cluster = Input("cluster", "Cluster", chosen, "cluster")
    if kind in (Kind.CREATE_NAMESPACE, Kind.CHANGE_TIER):
        form.tier = Input("tier", "GPU tier", tier_slug, "tier")
    if kind == Kind.DELETE_NAMESPACE:
        form.force = Input("force", "Delete even while pods are running", data.get("force", ""), "force")
    if kind in GRANT_KINDS:
        form.until = Input(
            "until",
            "Until (optional)",
            data.get("until", ""),
            "until",
            help="The last day the namespace keeps this, YYYY-MM-DD; then it goes back on its own. Empty: for good.",
        )
    form.justification = Input("justification", "Justification", data.get("justification", ""), "justification")
    if form.shows_quotas:
        for index, quota in enumerate(base.get("quotas") or [{"name": "quota", "hard": {}}]):
            block_name = quota["name"]
            inputs = []
            for key, label in [*QUOTA_KEYS, *share_keys(catalog, tier, quota)]:
                name = f"quota|{index}|{key}"
                value = data.get(name, "") if posted else data.get(name, quota["hard"].get(key, ""))
                item = Input(name, f"{label} ({key})", value, f"quotas[{block_name}].hard[{key}]")
                if key == GUARANTEED_GPU_KEY and tier is not None:
                    words, item.help = gpu_input_words(tier, quota)
                    item.label = f"{words} ({key})"
                elif resource := catalog.gpu_resource_of(key):
                    item.help = gpu_share_words(catalog, resource)
                inputs.append(item)
            form.quotas.append(QuotaBlock(block_name, bool(quota.get("scopeSelector")), inputs))
    if form.shows_limit_range:
        current = base.get("limitRange") or {}
        form.limit_range_name = current.get("name", DEFAULT_LIMIT_RANGE_NAME)
        by_type = {item["type"]: item for item in current.get("limits") or []}
        for kind_name, resource in LIMIT_ROWS:
            cells: list[Input | None] = []
            for limit_field in LIMIT_FIELDS:
                if kind_name != "Container" and limit_field not in PVC_FIELDS:
                    cells.append(None)
                    continue
                name = f"limit|{kind_name}|{limit_field}|{resource}"
                existing = (by_type.get(kind_name) or {}).get(limit_field, {}).get(resource, "")
                value = data.get(name, "") if posted else data.get(name, existing)
                label = f"{kind_name} {limit_field} of {resource}"
                cells.append(Input(name, label, value, f"limitRange.limits[{kind_name}].{limit_field}[{resource}]"))
            form.limit_rows.append(LimitRow(kind_name, resource, cells))
    return form


def share_keys(catalog: TierCatalog, tier: GpuTier | None, quota: dict) -> list[tuple[str, str]]:
    """The quota inputs for GPU shares: each MIG slice or shared GPU the tier allows, and any the quota holds."""
    allowed = [resource for resource in catalog.allowed_gpu_resources(tier) if resource != GPU_RESOURCE] if tier else []
    held = [key.removeprefix("requests.") for key in catalog.gpu_request_keys(quota.get("hard") or {})]
    resources = dict.fromkeys([*allowed, *(resource for resource in held if resource != GPU_RESOURCE)])
    return [(f"requests.{resource}", "GPU share") for resource in resources]


def revision_data(request: Request) -> dict:
    """The form's values for a request sent back for changes: its latest version, as the inputs name them."""
    spec = request.proposed_spec
    data = {
        "justification": request.justification,
        "namespace_name": request.namespace_name,
        "cluster": request.cluster.name,
    }
    if request.until is not None:
        data["until"] = request.until.isoformat()
    if "tier" in spec:
        data["tier"] = spec["tier"]
    layout = build_form(request.kind, team=request.team, namespace=request.namespace, data=data)
    asked = {quota["name"]: quota.get("hard") or {} for quota in spec.get("quotas") or []}
    for block in layout.quotas:
        hard = asked.get(layout.quota_name(block), {})
        for item in block.inputs:
            data[item.name] = hard.get(item.name.split("|", 2)[2], "")
    if "limitRange" in spec:
        limits = {item["type"]: item for item in (spec["limitRange"] or {}).get("limits") or []}
        for row in layout.limit_rows:
            for cell in row.cells:
                if cell is not None:
                    bound = cell.name.split("|")[2]
                    data[cell.name] = (limits.get(row.kind) or {}).get(bound, {}).get(row.resource, "")
    return data


class AutoApprovalRuleForm(django_forms.ModelForm):
    """An approver's rule; its checks are the model's (AutoApprovalRule.clean and field validators), as in the API."""

    class Meta:
        model = AutoApprovalRule
        fields = RULE_FIELDS
