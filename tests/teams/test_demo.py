"""seed_demo: the seed's world, corrected, and stable when run again."""

from datetime import date
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management import call_command

from teams.demo import SEED_LIMIT_RANGE, SEED_PRODUCTION_QUOTA, SEED_RESEARCH_QUOTA
from teams.models import AuditEvent, GpuTier, Rate, TeamNamespace
from tests.seed import TUTORIAL, parse_tutorial, seed_documents, seed_manifest


def snapshot() -> str:
    """Every row seed_demo writes, serialised, so two runs can be compared exactly."""
    models = [*apps.get_app_config("teams").get_models(), get_user_model(), apps.get_model("auth", "Group")]
    return serializers.serialize("json", [row for model in models for row in model.objects.order_by("pk")])


@pytest.mark.django_db
def test_seed_demo_twice_gives_identical_rows(capsys):
    call_command("seed_demo")
    first = snapshot()
    call_command("seed_demo")

    assert snapshot() == first
    assert "user research-lead" in capsys.readouterr().out


@pytest.mark.django_db
def test_seed_demo_builds_the_seeds_world_with_the_four_corrections(capsys):
    call_command("seed_demo")

    output = capsys.readouterr().out
    tiers = list(GpuTier.objects.values_list("slug", "priority_class_name", "priority_value", "preemption_policy"))
    rates = list(Rate.objects.values_list("tier__slug", "resource", "kind", "effective_from", "price"))
    assert tiers == [
        ("critical", "ml-critical", 1000000, "PreemptLowerPriority"),
        ("high-priority", "ml-high", 100000, "PreemptLowerPriority"),
        ("best-effort", "ml-low", 1000, "Never"),
    ]
    assert sorted(rates) == [
        ("best-effort", "gpu", "burst", date(2000, 1, 1), Decimal("0.800000")),
        ("best-effort", "gpu", "reserved", date(2000, 1, 1), Decimal("0.000000")),
        ("critical", "gpu", "burst", date(2000, 1, 1), Decimal("3.200000")),
        ("critical", "gpu", "reserved", date(2000, 1, 1), Decimal("3.200000")),
        ("high-priority", "gpu", "burst", date(2000, 1, 1), Decimal("1.200000")),
        ("high-priority", "gpu", "reserved", date(2000, 1, 1), Decimal("2.400000")),
    ]
    namespaces = {ns.name: ns for ns in TeamNamespace.objects.select_related("team__cost_center", "tier")}
    assert {name: ns.desired_labels for name, ns in namespaces.items()} == {
        "ml-research": {"team": "research", "cost-center": "rd-001", "gpu-tier": "high-priority"},
        "ml-production": {"team": "platform", "cost-center": "prod-001", "gpu-tier": "critical"},
        "ml-experiments": {"team": "data-science", "cost-center": "ds-001", "gpu-tier": "best-effort"},
    }
    container = namespaces["ml-research"].limit_range["limits"][0]
    assert (container["default"]["nvidia.com/gpu"], container["defaultRequest"]["nvidia.com/gpu"]) == ("0", "0")
    production, objects = namespaces["ml-production"].quotas
    assert production["scopeSelector"]["matchExpressions"][0]["values"] == ["ml-critical", "ml-high"]
    assert "services" not in production["hard"]
    assert objects == {"name": "ml-production-objects", "hard": {"services": "50"}}
    # "8 GPUs limit, 0 guaranteed": 8 for pods at ml-low, 0 for pods of any other class.
    assert namespaces["ml-experiments"].quotas == [
        {
            "name": "ml-experiments-quota",
            "hard": {"requests.nvidia.com/gpu": "8"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-low"]}]
            },
        },
        {
            "name": "ml-experiments-guaranteed",
            "hard": {"requests.nvidia.com/gpu": "0"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["ml-low"]}]
            },
        },
    ]
    assert (
        "ml-experiments: the seed as written fails: quotas[ml-experiments-quota].hard[requests.nvidia.com/gpu]: "
        "Best effort namespaces get 0 guaranteed GPUs, but this quota holds 8 GPUs" in output
    )
    assert output.count("the seed as written fails") == 5
    assert output.count("corrected:") == 4
    assert AuditEvent.objects.filter(verb="namespace.seeded").count() == 3


@pytest.mark.django_db
def test_demo_users_sign_in_with_the_configured_password(client, settings):
    settings.DEMO_PASSWORD = "scripted-demo"
    call_command("seed_demo")

    assert client.login(username="approver", password="scripted-demo")
    assert client.login(username="data-science-member", password="scripted-demo")


def test_the_seed_constants_are_the_tutorials_manifests_verbatim():
    for constant in (SEED_RESEARCH_QUOTA, SEED_PRODUCTION_QUOTA):
        spec = seed_manifest("ResourceQuota", constant["name"])["spec"]
        assert {key: str(value) for key, value in spec["hard"].items()} == constant["hard"]
        assert spec.get("scopeSelector") == constant.get("scopeSelector")
    assert seed_manifest("LimitRange", "ml-limit-range")["spec"]["limits"] == SEED_LIMIT_RANGE["limits"]


@pytest.mark.skipif(not TUTORIAL.exists(), reason="the shared seed is laid beside the repository")
def test_the_seed_fixture_is_the_tutorial():
    assert parse_tutorial(TUTORIAL.read_text()) == seed_documents()
