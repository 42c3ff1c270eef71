"""The move of the prices into the tier catalog's rate table keeps every price."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("teams", "0004_system_actor"), ("chargeback", "0001_initial")]


@pytest.fixture
def executor(transactional_db):
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    yield executor
    executor.loader.build_graph()
    executor.migrate(latest)


def test_the_rate_table_move_keeps_every_price_and_seeds_tiers_that_had_none(executor):
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    tier = old.get_model("teams", "GpuTier")
    priced = tier.objects.create(
        slug="priced",
        name="Priced",
        priority_class_name="ml-priced",
        priority_value=10,
        preemption_policy="Never",
        reserved_gpu_hour_rate=Decimal("9.9"),
        used_gpu_hour_rate=Decimal("9.9"),
    )
    fresh = tier.objects.create(
        slug="fresh",
        name="Fresh",
        priority_class_name="ml-fresh",
        priority_value=5,
        preemption_policy="Never",
        reserved_gpu_hour_rate=Decimal("0.1"),
        used_gpu_hour_rate=Decimal("0.5"),
    )
    rate = old.get_model("chargeback", "Rate")
    for kind, day, price in [
        ("reserved", date(2000, 1, 1), "2.4"),
        ("reserved", date(2026, 10, 16), "3.0"),
        ("burst", date(2000, 1, 1), "1.2"),
    ]:
        rate.objects.create(tier=priced, resource="gpu", kind=kind, effective_from=day, price=price, note="kept")
    rate.objects.create(tier=priced, resource="cpu", kind="reserved", effective_from=date(2026, 10, 1), price="0.05")

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state(executor.loader.graph.leaf_nodes()).apps
    rates = new.get_model("teams", "Rate").objects.order_by("tier_id", "resource", "kind", "effective_from")

    assert [(r.tier_id, r.resource, r.kind, r.effective_from, r.price, r.note) for r in rates] == [
        (priced.pk, "cpu", "reserved", date(2026, 10, 1), Decimal("0.050000"), ""),
        (priced.pk, "gpu", "burst", date(2000, 1, 1), Decimal("1.200000"), "kept"),
        (priced.pk, "gpu", "reserved", date(2000, 1, 1), Decimal("2.400000"), "kept"),
        (priced.pk, "gpu", "reserved", date(2026, 10, 16), Decimal("3.000000"), "kept"),
        (fresh.pk, "gpu", "burst", date(2000, 1, 1), Decimal("0.500000"), "Seeded from the tier's used_gpu_hour_rate."),
        (
            fresh.pk,
            "gpu",
            "reserved",
            date(2000, 1, 1),
            Decimal("0.100000"),
            "Seeded from the tier's reserved_gpu_hour_rate.",
        ),
    ]
    assert "reserved_gpu_hour_rate" not in {field.name for field in new.get_model("teams", "GpuTier")._meta.fields}
