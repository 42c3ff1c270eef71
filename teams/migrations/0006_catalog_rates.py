"""The tier catalog's one price table: chargeback's rates move here, and the tier's own price fields go.

Every rate chargeback held is copied as it is. A tier that had no GPU rate of a kind yet
(chargeback seeded them after migrate) gets one from its price field, in effect since
always, so no price is lost when the fields are removed.
"""

from datetime import date

import django.db.models.deletion
from django.db import migrations, models
from django.utils import timezone

SINCE_ALWAYS = date(2000, 1, 1)
TIER_FIELDS = {"reserved": "reserved_gpu_hour_rate", "burst": "used_gpu_hour_rate"}


def move_rates(apps, schema_editor):
    OldRate = apps.get_model("chargeback", "Rate")
    Rate = apps.get_model("teams", "Rate")
    GpuTier = apps.get_model("teams", "GpuTier")
    Rate.objects.bulk_create(
        Rate(
            tier_id=old.tier_id,
            resource=old.resource,
            kind=old.kind,
            effective_from=old.effective_from,
            price=old.price,
            note=old.note,
        )
        for old in OldRate.objects.order_by("pk")
    )
    for tier in GpuTier.objects.all():
        for kind, field_name in TIER_FIELDS.items():
            if not Rate.objects.filter(tier=tier, resource="gpu", kind=kind).exists():
                Rate.objects.create(
                    tier=tier,
                    resource="gpu",
                    kind=kind,
                    effective_from=SINCE_ALWAYS,
                    price=getattr(tier, field_name),
                    note=f"Seeded from the tier's {field_name}.",
                )


def restore_tier_prices(apps, schema_editor):
    """Back to the old layout: the tier's fields take today's GPU prices, and chargeback's rates all of them."""
    OldRate = apps.get_model("chargeback", "Rate")
    Rate = apps.get_model("teams", "Rate")
    GpuTier = apps.get_model("teams", "GpuTier")
    OldRate.objects.bulk_create(
        OldRate(
            tier_id=rate.tier_id,
            resource=rate.resource,
            kind=rate.kind,
            effective_from=rate.effective_from,
            price=rate.price,
            note=rate.note,
        )
        for rate in Rate.objects.order_by("pk")
    )
    today = timezone.now().date()
    for tier in GpuTier.objects.all():
        for kind, field_name in TIER_FIELDS.items():
            current = (
                Rate.objects.filter(tier=tier, resource="gpu", kind=kind, effective_from__lte=today)
                .order_by("-effective_from")
                .first()
            )
            if current is not None:
                setattr(tier, field_name, current.price)
        tier.save(update_fields=list(TIER_FIELDS.values()))


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0005_events_adoption_and_reconcile_failure"),
        ("chargeback", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Rate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "resource",
                    models.CharField(
                        choices=[("gpu", "GPU"), ("cpu", "CPU core"), ("memory", "Memory GiB")], max_length=16
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("reserved", "Reserved (per guaranteed unit-hour)"),
                            ("burst", "Used beyond reserved (per unit-hour)"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "effective_from",
                    models.DateField(help_text="Applies from 00:00 UTC of this day until the next rate's day."),
                ),
                (
                    "price",
                    models.DecimalField(
                        decimal_places=6, help_text="Per GPU-hour, core-hour or GiB-hour.", max_digits=14
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=200)),
                (
                    "tier",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="rates", to="teams.gputier"
                    ),
                ),
            ],
            options={
                "ordering": ["tier", "resource", "kind", "effective_from"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("tier", "resource", "kind", "effective_from"), name="tier_rate_unique_day"
                    ),
                    models.CheckConstraint(condition=models.Q(("price__gte", 0)), name="tier_rate_price_not_negative"),
                ],
            },
        ),
        migrations.RunPython(move_rates, restore_tier_prices),
        migrations.RemoveField(model_name="gputier", name="reserved_gpu_hour_rate"),
        migrations.RemoveField(model_name="gputier", name="used_gpu_hour_rate"),
    ]
