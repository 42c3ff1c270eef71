"""The roles module: who holds which role, what each may do, and what each sees through visible_to."""

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Group

from accounts.actions import create_api_token
from accounts.models import ApiToken
from chargeback.models import DailyUsage, HourlyUsage
from provisioning.models import ClusterConnection, UsageSample
from teams import roles
from teams.models import AuditEvent, Cluster, CostCenter, GpuTier, Membership, Request, Team, TeamNamespace
from tests.clusters import connect
from tests.requests import ask_for_gpus

Role = roles.Role
ROOT = Path(__file__).resolve().parents[2]
PERSONAS = ["anonymous", "research_lead", "research_member", "platform_lead", "approver", "finance"]


def person(world, persona: str):
    return AnonymousUser() if persona == "anonymous" else getattr(world, persona)


@pytest.fixture
def pending(world) -> Request:
    return ask_for_gpus(world, world.namespace("ml-research"), "16")


# Who holds which role.


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("anonymous", set()),
        ("research_lead", {Role.LEAD}),
        ("research_member", {Role.MEMBER}),
        ("platform_lead", set()),
        ("approver", {Role.APPROVER}),
        ("finance", {Role.FINANCE}),
    ],
)
def test_the_roles_each_person_holds_in_research(world, persona, expected):
    assert roles.roles_of(person(world, persona), world.research) == expected


def test_the_platform_roles_come_from_groups_and_an_approver_must_be_staff(world):
    users = get_user_model().objects
    approvers = Group.objects.get(name="approvers")
    not_staff = users.create_user("in-group-not-staff")
    not_staff.groups.add(approvers)
    superuser = users.create_superuser("root", password="x")
    inactive = users.create_user("gone", is_staff=True, is_active=False)
    inactive.groups.add(approvers, Group.objects.get(name="finance"))

    assert roles.platform_roles(not_staff) == set()
    assert roles.platform_roles(superuser) == {Role.APPROVER}
    assert roles.platform_roles(inactive) == set()


def test_a_membership_holds_only_a_team_role():
    assert [value for value, _ in Membership._meta.get_field("role").choices] == ["lead", "member"]


# What each may do.

ABILITIES = {
    # ability: expected per persona, in PERSONAS order
    "can_request_for research": [False, True, False, False, False, False],
    "can_decide": [False, False, False, False, True, False],
    "can_read_chargeback": [False, True, True, True, True, True],
    "can_see_clusters": [False, False, False, False, True, True],
    "sees_every_team": [False, False, False, False, True, True],
    "can_cancel research's pending request": [False, True, False, False, False, False],
}


@pytest.mark.parametrize("ability", list(ABILITIES))
def test_what_each_role_may_do(world, pending, ability):
    checks = {
        "can_request_for research": lambda user: roles.can_request_for(user, world.research),
        "can_decide": roles.can_decide,
        "can_read_chargeback": roles.can_read_chargeback,
        "can_see_clusters": roles.can_see_clusters,
        "sees_every_team": roles.sees_every_team,
        "can_cancel research's pending request": lambda user: roles.can_cancel(user, pending),
    }

    answers = [checks[ability](person(world, persona)) for persona in PERSONAS]

    assert answers == ABILITIES[ability]


def test_refusals_say_who_may_do_it(world):
    with pytest.raises(Exception, match=r"^Only platform admins in the approvers group can do this\.$"):
        roles.require_approver(world.finance)
    with pytest.raises(Exception, match=r"^Only a lead of team research can submit its requests\.$"):
        roles.require_lead(world.research_member, world.research)
    outsider = get_user_model().objects.create_user("outsider")
    with pytest.raises(Exception, match=r"^Chargeback is for members of a team, the finance group and approvers\.$"):
        roles.require_chargeback_reader(outsider)


@pytest.mark.parametrize(
    ("public", "persona", "expected"),
    [(False, "anonymous", False), (False, "finance", True), (True, "anonymous", True)],
)
def test_the_api_schema_is_for_signed_in_users_unless_public(world, settings, public, persona, expected):
    settings.API_SCHEMA_PUBLIC = public

    assert roles.can_see_api_schema(person(world, persona)) is expected


# What each sees: visible_to on every model a page or endpoint shows.


@pytest.fixture
def shown(world, pending) -> None:
    """One object of each kind besides the seed's: research's usage and platform's API token."""
    namespace = world.namespace("ml-research")
    cluster = connect("default", is_default=True)
    UsageSample.objects.create(
        cluster=cluster,
        namespace=namespace,
        quota_name="ml-research-quota",
        resource="requests.nvidia.com/gpu",
        time=datetime(2026, 11, 30, 12, tzinfo=UTC),
        hard=8,
        used=3,
    )
    day = date(2026, 11, 30)
    totals = {
        "namespace": namespace,
        "tier": namespace.tier,
        "team": world.research,
        "cost_center": world.research.cost_center,
        "cluster": namespace.cluster,
        "day": day,
        "week": date(2026, 11, 30),
        "month": date(2026, 11, 1),
        "gpu_reserved": 3_600_000,
    }
    HourlyUsage.objects.create(hour=datetime(2026, 11, 30, 12, tzinfo=UTC), **totals)
    DailyUsage.objects.create(**totals)
    create_api_token(user=world.platform_lead, name="ci", read_only=True, expires_at=None)


VISIBLE = {
    # model: (the column listed, expected per persona in PERSONAS order)
    Team: ("slug", [[], ["research"], ["research"], ["platform"], "all", "all"]),
    CostCenter: ("code", [[], ["rd-001"], ["rd-001"], ["prod-001"], "all", "all"]),
    Membership: (
        "user__username",
        [
            [],
            ["research-lead", "research-member"],
            ["research-lead", "research-member"],
            ["platform-lead", "platform-member"],
            "all",
            "all",
        ],
    ),
    TeamNamespace: ("name", [[], ["ml-research"], ["ml-research"], ["ml-production"], "all", "all"]),
    Request: ("namespace_name", [[], ["ml-research"], ["ml-research"], [], "all", "all"]),
    AuditEvent: ("verb", [[], ["request.submitted"], ["request.submitted"], [], "all", "all"]),
    UsageSample: ("namespace__name", [[], ["ml-research"], ["ml-research"], [], "all", "all"]),
    HourlyUsage: ("team__slug", [[], ["research"], ["research"], [], "all", "all"]),
    DailyUsage: ("team__slug", [[], ["research"], ["research"], [], "all", "all"]),
    Cluster: ("name", [[], "all", "all", "all", "all", "all"]),
    ClusterConnection: ("cluster__name", [[], [], [], [], "all", "all"]),
    GpuTier: ("slug", [[], "all", "all", "all", "all", "all"]),
    ApiToken: ("name", [[], [], [], ["ci"], [], []]),
}


@pytest.mark.parametrize("model", list(VISIBLE), ids=lambda model: model.__name__)
def test_what_each_role_sees(world, shown, model):
    column, expected = VISIBLE[model]
    everything = sorted(model.objects.values_list(column, flat=True))

    seen = [
        sorted(model.objects.visible_to(person(world, persona)).values_list(column, flat=True)) for persona in PERSONAS
    ]

    assert seen == [everything if rows == "all" else rows for rows in expected]
    assert len(everything) > max(len(rows) for rows in seen if rows != everything)


#: Models no page or endpoint shows as rows: bookkeeping of the sync, the applies, the rollup and the
#: notifications' deliveries, rates, which reach users only as the tier catalogue's prices
#: (teams.catalog.PriceList), on the tiers every signed-in user sees, and single sign-on's group mappings,
#: edited in the Django admin only.
NOT_SHOWN = {
    "accounts.GroupMapping",
    "provisioning.TaskLock",
    "provisioning.PendingApply",
    "teams.Rate",
    "chargeback.SeriesCheckpoint",
    "chargeback.NamespaceCheckpoint",
    "chargeback.RollupState",
    "chargeback.BudgetAlert",
}


def test_every_model_of_the_portal_has_visible_to_or_is_never_shown():
    models = [
        model
        for name in ("teams", "provisioning", "chargeback", "accounts")
        for model in apps.get_app_config(name).get_models()
    ]

    unscoped = {model._meta.label for model in models if not hasattr(model.objects, "visible_to")}

    assert unscoped == NOT_SHOWN


# The rules live in one place.

ROLE_LOOKUPS = re.compile(r"\.groups\.|is_superuser|\bis_staff\b|\.memberships\.")
#: The roles module reads groups and memberships; the demo creates its users; constants name the groups.
ALLOWED = {"teams/roles.py", "teams/demo.py"}


def test_only_the_roles_module_looks_at_groups_and_memberships():
    sources = [
        path
        for app in ("accounts", "chargeback", "portal", "provisioning", "teams")
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    ]

    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources
        if str(path.relative_to(ROOT)) not in ALLOWED
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if ROLE_LOOKUPS.search(line)
    ]

    assert offenders == []
