"""The tier catalog: tiers, preemptible classes, guaranteed vs burst, GPU allocation, defaults and prices."""

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from teams.capacity import guaranteed_total
from teams.catalog import PriceList, TierCatalog, check_rate_day, is_billed, tier_default_spec
from teams.models import Cluster, GpuTier, Rate, TeamNamespace
from teams.policy import check_namespace_spec

TODAY = date(2026, 12, 2)


def quota(gpus: str, operator: str | None = None, *classes: str, name: str = "q") -> dict:
    result: dict = {"name": name, "hard": {"requests.nvidia.com/gpu": gpus}}
    if operator:
        result["scopeSelector"] = {
            "matchExpressions": [{"scopeName": "PriorityClass", "operator": operator, "values": list(classes)}]
        }
    return result


@pytest.fixture
def catalog(world) -> TierCatalog:
    return TierCatalog.load()


def test_the_catalog_finds_tiers_by_slug_id_and_priority_class(catalog, django_assert_num_queries):
    best_effort = GpuTier.objects.get(slug="best-effort")

    with django_assert_num_queries(0):
        assert catalog.by_slug["best-effort"] == best_effort
        assert catalog.by_id[best_effort.pk] == best_effort
        assert catalog.by_priority_class["ml-low"] == best_effort
        assert catalog.preemptible_classes == frozenset({"ml-low"})


@pytest.mark.parametrize(
    ("tier", "scope", "guaranteed"),
    [
        ("high-priority", (), True),
        ("high-priority", ("In", "ml-low"), False),
        ("high-priority", ("In", "ml-high", "ml-low"), True),
        ("high-priority", ("NotIn", "ml-low"), True),
        ("best-effort", (), False),  # the tier's intent: what is billed as burst
        ("best-effort", ("In", "ml-low"), False),
        ("best-effort", ("In", "ml-high"), True),
        ("best-effort", ("NotIn", "ml-low"), False),
    ],
)
def test_a_quota_is_guaranteed_unless_only_preemptible_pods_count_against_it(catalog, tier, scope, guaranteed):
    assert catalog.is_guaranteed(quota("8", *scope), catalog.by_slug[tier]) is guaranteed


def test_gpu_allocation_splits_guaranteed_from_burst_and_keeps_the_declared_limit(catalog):
    research = quota("8")
    research["hard"]["limits.nvidia.com/gpu"] = "32"
    burst = quota("4", "In", "ml-low", name="burst")

    allocation = catalog.gpu_allocation([research, burst], catalog.by_slug["high-priority"])

    assert (allocation.guaranteed, allocation.limit, allocation.largest_quota) == (8, 32, 8)
    assert catalog.gpu_allocation([quota("8"), burst], catalog.by_slug["high-priority"]).limit == 12


@pytest.mark.parametrize(
    ("quotas", "findings"),
    [
        ([quota("8")], [("q", 8)]),
        ([quota("8", "NotIn", "ml-low")], [("q", 8)]),
        ([quota("8", "In", "ml-low", "ml-high")], [("q", 8)]),
        ([quota("8", "In", "ml-low")], [("q", None)]),
        ([quota("8", "In", "ml-low"), quota("0", "NotIn", "ml-low", name="cap")], []),
        ([quota("8", "In", "ml-low"), quota("0", name="cap")], []),
        ([quota("0")], []),
        ([{"name": "objects", "hard": {"pods": "10"}}], []),
    ],
    ids=["unscoped", "not-in", "in-mixed", "uncapped", "capped-not-in", "capped-unscoped", "zero", "no-gpus"],
)
def test_a_tier_without_guaranteed_gpus_finds_every_quota_that_would_guarantee_some(catalog, quotas, findings):
    found = catalog.guaranteed_gpu_findings(quotas, catalog.by_slug["best-effort"])

    assert [(finding.quota_name, finding.gpus) for finding in found] == findings


def test_a_tier_with_guaranteed_gpus_has_no_such_findings(catalog):
    assert catalog.guaranteed_gpu_findings([quota("8")], catalog.by_slug["high-priority"]) == []


@pytest.mark.parametrize("slug", ["critical", "high-priority", "best-effort"])
def test_every_tiers_default_spec_passes_its_own_rules(world, slug):
    spec = tier_default_spec(GpuTier.objects.get(slug=slug), "ds-new")

    assert check_namespace_spec(team=world.data_science, spec=spec).errors == []


def test_the_best_effort_default_spec_keeps_its_gpus_for_preemptible_pods(world):
    spec = tier_default_spec(GpuTier.objects.get(slug="best-effort"), "ds-new")

    # The tier allows time-sliced GPUs too: none to start with, and none for other classes.
    assert spec["quotas"] == [
        {
            "name": "ds-new-quota",
            "hard": {"requests.nvidia.com/gpu": "4", "pods": "50", "requests.nvidia.com/gpu.shared": "0"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-low"]}]
            },
        },
        {
            "name": "ds-new-guaranteed",
            "hard": {"requests.nvidia.com/gpu": "0", "requests.nvidia.com/gpu.shared": "0"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "NotIn", "values": ["ml-low"]}]
            },
        },
    ]


def test_a_price_holds_from_its_day_until_the_next_rate(world, django_assert_num_queries):
    high = GpuTier.objects.get(slug="high-priority")
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=date(2026, 10, 16), price="3.0")

    with django_assert_num_queries(1):
        prices = PriceList()
    with django_assert_num_queries(0):
        assert prices.price(high.pk, "gpu", "reserved", date(2026, 10, 15), cluster_id=None) == Decimal("2.4")
        assert prices.price(high.pk, "gpu", "reserved", date(2026, 10, 16), cluster_id=None) == Decimal("3.0")
        # before the first rate, and without a CPU rate
        assert prices.price(high.pk, "gpu", "reserved", date(1999, 12, 31), cluster_id=None) == Decimal(0)
        assert prices.price(high.pk, "cpu", "reserved", date(2026, 10, 16), cluster_id=None) == Decimal(0)
        assert prices.gpu_prices(high, date(2026, 10, 20)) == {"reserved": Decimal("3.0"), "burst": Decimal("1.2")}
        assert prices.change_days(date(2026, 10, 1), date(2026, 11, 1)) == [date(2026, 10, 16)]
        assert prices.change_days(date(2026, 10, 16), date(2026, 11, 1)) == []


def test_a_clusters_own_rate_prices_its_namespaces_from_its_day_and_the_general_rate_prices_the_rest(
    world, django_assert_num_queries
):
    high = GpuTier.objects.get(slug="high-priority")
    default, inference = Cluster.objects.get_default(), Cluster.objects.create(name="inference")
    Rate.objects.create(
        tier=high, cluster=inference, resource="gpu", kind="reserved", effective_from=date(2026, 10, 10), price="4.0"
    )
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=date(2026, 10, 20), price="3.0")

    with django_assert_num_queries(1):
        prices = PriceList()

    def reserved(cluster: Cluster | None, day: int) -> Decimal:
        return prices.price(high.pk, "gpu", "reserved", date(2026, 10, day), cluster_id=cluster.pk if cluster else None)

    # Before its own rate the inference cluster pays the general 2.40; from Oct 10 its 4.00 holds, whatever
    # the general rate does after.
    assert [reserved(inference, day) for day in (9, 10, 25)] == [Decimal("2.4"), Decimal("4.0"), Decimal("4.0")]
    assert [reserved(default, day) for day in (9, 10, 25)] == [Decimal("2.4"), Decimal("2.4"), Decimal("3.0")]
    assert [reserved(None, day) for day in (9, 10, 25)] == [Decimal("2.4"), Decimal("2.4"), Decimal("3.0")]
    assert prices.price(high.pk, "gpu", "burst", date(2026, 10, 25), cluster_id=inference.pk) == Decimal("1.2")
    assert prices.effective_from(high.pk, "gpu", "reserved", date(2026, 10, 25), cluster_id=inference.pk) == (
        date(2026, 10, 10),
        True,
    )
    assert prices.gpu_prices(high, date(2026, 10, 12)) == {"reserved": Decimal("2.4"), "burst": Decimal("1.2")}
    assert prices.change_days(date(2026, 10, 1), date(2026, 11, 1)) == [date(2026, 10, 10), date(2026, 10, 20)]


def test_a_general_and_a_cluster_rate_may_share_a_day_but_two_general_rates_may_not(world):
    high = GpuTier.objects.get(slug="high-priority")
    inference = Cluster.objects.create(name="inference")
    day = date(2026, 10, 10)
    Rate.objects.create(tier=high, resource="gpu", kind="reserved", effective_from=day, price="3.0")
    Rate.objects.create(tier=high, cluster=inference, resource="gpu", kind="reserved", effective_from=day, price="4.0")

    for cluster in (None, inference):
        again = Rate(tier=high, cluster=cluster, resource="gpu", kind="reserved", effective_from=day, price="5")
        with pytest.raises(ValidationError):
            again.full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            again.save()


def test_prices_up_to_today_are_billed_and_a_new_price_starts_tomorrow_at_the_earliest(world):
    tier = GpuTier.objects.get(slug="critical")

    assert is_billed(Rate(tier=tier, effective_from=TODAY), today=TODAY)
    assert not is_billed(Rate(tier=tier, effective_from=date(2026, 12, 3)), today=TODAY)
    check_rate_day(date(2026, 12, 3), today=TODAY)
    with pytest.raises(ValidationError) as refused:
        check_rate_day(TODAY, today=TODAY)
    assert refused.value.message_dict == {
        "effective_from": [
            "Prices up to today may be billed already and are never changed: a new price takes effect from "
            "2026-12-03 on at the earliest."
        ]
    }


def test_a_tier_edited_in_the_admin_moves_its_namespaces_guaranteed_gpus_out_of_the_total(world, rf, admin_user):
    default = Cluster.objects.get_default()
    before = guaranteed_total(default)
    tier = world.namespace("ml-research").tier
    request = rf.post("/admin/")
    request.user = admin_user
    tier.allows_guaranteed_gpus = False

    site._registry[GpuTier].save_model(request, tier, form=None, change=True)

    assert world.namespace("ml-research").guaranteed_gpus == 0  # its 8 GPUs are burst now
    assert guaranteed_total(default) <= before - 8
    assert guaranteed_total(default) == sum(TeamNamespace.objects.live().values_list("guaranteed_gpus", flat=True))
