"""The seed tutorial's world, as written and as the portal corrects it.

`SEED_*` hold the tutorial's manifests literally; `demo_world()` applies the three
corrections the real API server demands. `seed_demo` checks both against the policy,
so the demo prints the policy's own explanation of every correction.
"""

import copy
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from teams import events
from teams.autoapproval import rule_values
from teams.capacity import recount_guaranteed
from teams.constants import APPROVERS_GROUP, FINANCE_GROUP, GPU_LIMIT_KEY, GPU_RESOURCE, GUARANTEED_GPU_KEY
from teams.models import (
    AutoApprovalRule,
    Cluster,
    CostCenter,
    GpuResource,
    GpuTier,
    Membership,
    Rate,
    Request,
    Resource,
    Team,
    TeamNamespace,
)
from teams.policy import check_namespace_spec
from teams.roles import TEAM_ROLES
from teams.workflow import seed_namespace, submit_request

SEED_RESEARCH_QUOTA = {
    "name": "ml-research-quota",
    "hard": {
        "requests.nvidia.com/gpu": "8",
        "limits.nvidia.com/gpu": "32",
        "requests.cpu": "64",
        "limits.cpu": "128",
        "requests.memory": "256Gi",
        "limits.memory": "512Gi",
        "requests.storage": "2Ti",
        "persistentvolumeclaims": "20",
        "pods": "50",
        "services": "10",
        "secrets": "50",
        "configmaps": "50",
    },
}
SEED_PRODUCTION_QUOTA = {
    "name": "ml-production-quota",
    "hard": {
        "requests.nvidia.com/gpu": "16",
        "limits.nvidia.com/gpu": "16",
        "requests.cpu": "128",
        "limits.cpu": "256",
        "requests.memory": "512Gi",
        "limits.memory": "1Ti",
        "pods": "200",
        "services": "50",
    },
    "scopeSelector": {
        "matchExpressions": [{"operator": "In", "scopeName": "PriorityClass", "values": ["critical", "high"]}]
    },
}
SEED_LIMIT_RANGE = {
    "name": "ml-limit-range",
    "limits": [
        {
            "type": "Container",
            "default": {"cpu": "2", "memory": "8Gi"},
            "defaultRequest": {"cpu": "1", "memory": "4Gi"},
            "max": {"cpu": "32", "memory": "128Gi", "nvidia.com/gpu": "8"},
            "min": {"cpu": "100m", "memory": "128Mi"},
        },
        {"type": "PersistentVolumeClaim", "max": {"storage": "500Gi"}, "min": {"storage": "1Gi"}},
    ],
}

COST_CENTERS = [
    {"code": "rd-001", "name": "Research & Development", "owner_contact": "rd-budget@example.com"},
    {"code": "prod-001", "name": "Production ML", "owner_contact": "prod-budget@example.com"},
    {"code": "ds-001", "name": "Data Science", "owner_contact": "ds-budget@example.com"},
]
CONTAINER_DEFAULTS = [
    {
        "type": "Container",
        "default": {"cpu": "2", "memory": "8Gi", GPU_RESOURCE: "0"},
        "defaultRequest": {"cpu": "1", "memory": "4Gi", GPU_RESOURCE: "0"},
    }
]
#: The GPU resources of the demo's nodes (provisioning.simulator's partitioned nodes advertise the shares):
#: name -> (GPU-equivalents per unit, what it is). A MIG slice is worth its compute slices of an A100's seven.
GPU_RESOURCES = {
    GPU_RESOURCE: (Decimal("1"), "A whole GPU: the GPU-equivalent itself."),
    "nvidia.com/mig-1g.10gb": (Decimal("0.142857"), "MIG 1g.10gb: 1 of the 7 compute slices of an A100 80GB."),
    "nvidia.com/mig-2g.20gb": (Decimal("0.285714"), "MIG 2g.20gb: 2 of the 7 compute slices of an A100 80GB."),
    "nvidia.com/mig-3g.40gb": (Decimal("0.428571"), "MIG 3g.40gb: 3 of the 7 compute slices of an A100 80GB."),
    "nvidia.com/gpu.shared": (Decimal("0.25"), "A GPU time-sliced four ways: a quarter of its time."),
}
SHARES = [name for name in GPU_RESOURCES if name != GPU_RESOURCE]
#: Which GPU resources each tier allows: research may use slices and shares, experiments time-sliced GPUs.
TIER_GPU_RESOURCES = {
    "critical": [GPU_RESOURCE],
    "high-priority": [GPU_RESOURCE, *SHARES],
    "best-effort": [GPU_RESOURCE, "nvidia.com/gpu.shared"],
}
TIERS = [
    {
        "slug": "critical",
        "name": "Critical",
        "priority_class_name": "ml-critical",
        "priority_value": 1000000,
        "preemption_policy": "PreemptLowerPriority",
        "description": "Production ML inference - never preempt",
        "allows_guaranteed_gpus": True,
        "max_guaranteed_gpus": 32,
        "max_gpu_limit": 32,
        "default_quota_hard": {
            "requests.nvidia.com/gpu": "4",
            "requests.cpu": "32",
            "requests.memory": "128Gi",
            "limits.cpu": "64",
            "limits.memory": "256Gi",
            "pods": "50",
        },
        "default_limit_range": CONTAINER_DEFAULTS,
    },
    {
        "slug": "high-priority",
        "name": "High priority",
        "priority_class_name": "ml-high",
        "priority_value": 100000,
        "preemption_policy": "PreemptLowerPriority",
        "description": "Research training jobs",
        "allows_guaranteed_gpus": True,
        "max_guaranteed_gpus": 16,
        "max_gpu_limit": 64,
        "default_quota_hard": {
            "requests.nvidia.com/gpu": "4",
            "requests.cpu": "32",
            "requests.memory": "128Gi",
            "limits.cpu": "64",
            "limits.memory": "256Gi",
            "pods": "50",
        },
        "default_limit_range": CONTAINER_DEFAULTS,
    },
    {
        "slug": "best-effort",
        "name": "Best effort",
        "priority_class_name": "ml-low",
        "priority_value": 1000,
        "preemption_policy": "Never",
        "description": "Experimental workloads - can be preempted",
        "allows_guaranteed_gpus": False,
        "max_guaranteed_gpus": 0,
        "max_gpu_limit": 16,
        "default_quota_hard": {"requests.nvidia.com/gpu": "4", "pods": "50"},
        "default_limit_range": CONTAINER_DEFAULTS,
    },
]
#: GPU-hour prices per tier (reserved, burst), in effect since always: the seed's world has always cost this.
GPU_RATES = {
    "critical": (Decimal("3.2000"), Decimal("3.2000")),
    "high-priority": (Decimal("2.4000"), Decimal("1.2000")),
    "best-effort": (Decimal("0.0000"), Decimal("0.8000")),
}
SINCE_ALWAYS = date(2000, 1, 1)
TEAMS = [
    {"slug": "research", "name": "ML Research", "cost_center": "rd-001", "default_tier": "high-priority"},
    {"slug": "platform", "name": "ML Platform", "cost_center": "prod-001", "default_tier": "critical"},
    {"slug": "data-science", "name": "Data Science", "cost_center": "ds-001", "default_tier": "best-effort"},
]


@dataclass(frozen=True)
class SeedNamespace:
    name: str
    team: str
    tier: str
    as_written: dict
    corrected: dict
    corrections: list[str] = field(default_factory=list)


def demo_world() -> list[SeedNamespace]:
    """The seed's three namespaces, as the tutorial writes them and as a real API server accepts them."""
    research_limits = copy.deepcopy(SEED_LIMIT_RANGE)
    container = research_limits["limits"][0]
    container["default"][GPU_RESOURCE] = "0"
    container["defaultRequest"][GPU_RESOURCE] = "0"

    production_quota = copy.deepcopy(SEED_PRODUCTION_QUOTA)
    production_quota["scopeSelector"]["matchExpressions"][0]["values"] = ["ml-critical", "ml-high"]
    services = production_quota["hard"].pop("services")
    production_objects = {"name": "ml-production-objects", "hard": {"services": services}}

    # The tutorial's "8 GPUs limit, 0 guaranteed": 8 for pods at ml-low, none for any other pod.
    experiments_quota = {"name": "ml-experiments-quota", "hard": {"requests.nvidia.com/gpu": "8"}}
    experiments_scoped = copy.deepcopy(experiments_quota)
    experiments_scoped["scopeSelector"] = _priority_class_scope("In", "ml-low")
    experiments_others = {
        "name": "ml-experiments-guaranteed",
        "hard": {"requests.nvidia.com/gpu": "0"},
        "scopeSelector": _priority_class_scope("NotIn", "ml-low"),
    }
    return [
        SeedNamespace(
            "ml-research",
            "research",
            "high-priority",
            as_written={"tier": "high-priority", "quotas": [SEED_RESEARCH_QUOTA], "limitRange": SEED_LIMIT_RANGE},
            corrected={"tier": "high-priority", "quotas": [SEED_RESEARCH_QUOTA], "limitRange": research_limits},
            corrections=[
                'ml-limit-range: added default and defaultRequest of nvidia.com/gpu "0", so that a container '
                "naming no GPU is not given the max of 8."
            ],
        ),
        SeedNamespace(
            "ml-production",
            "platform",
            "critical",
            as_written={"tier": "critical", "quotas": [SEED_PRODUCTION_QUOTA]},
            corrected={"tier": "critical", "quotas": [production_quota, production_objects]},
            corrections=[
                "ml-production-quota: PriorityClass scope names ml-critical and ml-high (the seed's critical and "
                "high do not exist, so the quota would match no pod).",
                'ml-production-quota: services "50" moved to the unscoped quota ml-production-objects (the API '
                "server rejects object counts in a PriorityClass-scoped quota).",
            ],
        ),
        SeedNamespace(
            "ml-experiments",
            "data-science",
            "best-effort",
            as_written={"tier": "best-effort", "quotas": [experiments_quota]},
            corrected={"tier": "best-effort", "quotas": [experiments_scoped, experiments_others]},
            corrections=[
                "ml-experiments-quota: scoped to PriorityClass ml-low, and ml-experiments-guaranteed holds 0 GPUs "
                "for every other class (unscoped, the quota's 8 GPUs would be guaranteed to pods of any class)."
            ],
        ),
    ]


def _priority_class_scope(operator: str, *classes: str) -> dict:
    return {"matchExpressions": [{"scopeName": "PriorityClass", "operator": operator, "values": list(classes)}]}


def demo_users() -> list[dict]:
    """Sign-in names of the demo: a lead and a member per team, an approver, a finance user."""
    users = []
    for team in TEAMS:
        for role in TEAM_ROLES:
            users.append({"username": f"{team['slug']}-{role}", "team": team["slug"], "role": role})
    users.append({"username": "approver", "group": APPROVERS_GROUP, "is_staff": True})
    users.append({"username": "finance", "group": FINANCE_GROUP})
    return users


@transaction.atomic
def seed_demo() -> list[str]:
    """Create or update the seed's world; running it twice changes nothing. Return what it did."""
    lines: list[str] = []
    for values in COST_CENTERS:
        CostCenter.objects.update_or_create(code=values["code"], defaults=values)
    for name, (weight, description) in GPU_RESOURCES.items():
        GpuResource.objects.update_or_create(name=name, defaults={"weight": weight, "description": description})
    for values in TIERS:
        tier, _ = GpuTier.objects.update_or_create(slug=values["slug"], defaults=values)
        tier.gpu_resources.set(GpuResource.objects.filter(name__in=TIER_GPU_RESOURCES[tier.slug]))
        _seed_rates(tier)
    for values in TEAMS:
        Team.objects.update_or_create(
            slug=values["slug"],
            defaults={
                "name": values["name"],
                "cost_center": CostCenter.objects.get(code=values["cost_center"]),
                "default_tier": GpuTier.objects.get(slug=values["default_tier"]),
            },
        )
    _seed_users(lines)
    for namespace in demo_world():
        _seed_namespace(namespace, lines)
    recount_guaranteed()  # the weights above may have changed what other namespaces' slices are worth
    return lines


def _seed_rates(tier: GpuTier) -> None:
    """The tier's first GPU prices; a rate that exists is history and is left as it is."""
    for kind, price in zip((Rate.Kind.RESERVED, Rate.Kind.BURST), GPU_RATES[tier.slug], strict=True):
        Rate.objects.get_or_create(
            tier=tier,
            cluster=None,
            resource=Resource.GPU,
            kind=kind,
            effective_from=SINCE_ALWAYS,
            defaults={"price": price, "note": "The seed's price."},
        )


def _seed_users(lines: list[str]) -> None:
    password = settings.DEMO_PASSWORD
    user_model = get_user_model()
    for values in demo_users():
        user, _ = user_model.objects.get_or_create(username=values["username"])
        wanted_staff = values.get("is_staff", False)
        # A reserved domain: the demo's e-mail goes to the worker's log, or to a test's own SMTP server.
        email = f"{values['username']}@gpu-portal.example"
        if user.is_staff != wanted_staff or user.email != email or not user.check_password(password):
            user.is_staff = wanted_staff
            user.email = email
            user.set_password(password)
            user.save()
        if "group" in values:
            user.groups.add(Group.objects.get_or_create(name=values["group"])[0])
            description = f"{values['group']} group"
        else:
            Membership.objects.update_or_create(
                user=user, team=Team.objects.get(slug=values["team"]), defaults={"role": values["role"]}
            )
            description = f"{values['role']} of {values['team']}"
        lines.append(f"user {values['username']:<20} password {password}  ({description})")


def _seed_namespace(namespace: SeedNamespace, lines: list[str]) -> None:
    team = Team.objects.get(slug=namespace.team)
    for finding in check_namespace_spec(team=team, spec=namespace.as_written).errors:
        lines.append(f"{namespace.name}: the seed as written fails: {finding.field}: {finding.message}")
    for correction in namespace.corrections:
        lines.append(f"{namespace.name}: corrected: {correction}")
    corrected = check_namespace_spec(team=team, spec=namespace.corrected)
    corrected.raise_for_errors()
    for finding in corrected.warnings:
        lines.append(f"{namespace.name}: warning: {finding.field}: {finding.message}")
    outcome = seed_namespace(namespace.name, team=team, spec=corrected.proposed)
    if outcome == "created":
        lines.append(f"{namespace.name}: created")
    elif outcome == "reset":
        lines.append(f"{namespace.name}: reset to the seed's desired state")


#: The demo's time-boxed request: the platform team's holiday peak, asked for until early January.
HOLIDAY_TRAFFIC = "Holiday traffic: inference replicas x1.5 for Dec 10 - Jan 5."


def seed_grant_example() -> list[str]:
    """A pending time-boxed grant for the queue's first start: platform's holiday traffic, until the next 5 January.

    Submitted once, by the platform's lead through the workflow; run again, it changes nothing.
    """
    if Request.objects.filter(justification=HOLIDAY_TRAFFIC).exists():
        return []
    # The seed's namespaces are on the default cluster (seed_namespace).
    namespaces = TeamNamespace.objects.live().filter(cluster=Cluster.objects.get_default())
    namespace = namespaces.select_related("team", "tier").get(name="ml-production")
    quotas = copy.deepcopy(namespace.quotas)
    for quota in quotas:
        if GUARANTEED_GPU_KEY in quota["hard"]:
            quota["hard"][GUARANTEED_GPU_KEY] = quota["hard"][GPU_LIMIT_KEY] = "24"
    today = timezone.localdate()
    until = date(today.year if today < date(today.year, 1, 5) else today.year + 1, 1, 5)
    request = submit_request(
        actor=get_user_model().objects.get(username="platform-lead"),
        team=namespace.team,
        kind=Request.Kind.CHANGE_QUOTA,
        namespace=namespace,
        proposed={"quotas": quotas},
        justification=HOLIDAY_TRAFFIC,
        until=until,
    )
    return [f"request #{request.pk}: {HOLIDAY_TRAFFIC} (a time-boxed grant until {until.isoformat()}), pending"]


#: The demo's auto-approval rule, in dry run: the queue scores it against the approvers before anyone trusts it.
DEMO_RULE = {
    "name": "Busy teams may grow a little",
    "order": 10,
    "mode": AutoApprovalRule.Mode.DRY_RUN,
    "kind": Request.Kind.CHANGE_QUOTA,
    "max_more_gpus": 4,
    "min_usage_percent": 80,
    "usage_days": 7,
    "min_headroom_percent": 20,
    "max_per_team_per_month": 3,
}


def seed_demo_rule() -> str:
    """The demo's one rule, written by the system actor once; a rule an approver changed since is left alone."""
    with transaction.atomic():
        rule, created = AutoApprovalRule.objects.get_or_create(name=DEMO_RULE["name"], defaults=DEMO_RULE)
        if created:
            events.record(
                "autoapproval_rule.seeded",
                actor=events.system_actor(),
                target=f"autoapproval-rule:{rule.pk}",
                after=rule_values(rule),
            )
    return f"auto-approval rule {rule.name!r} ({rule.get_mode_display().lower()})"
