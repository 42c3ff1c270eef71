"""Receivers: a tier's price fields reach the Rate table; admin groups get their rate permissions.

Connected in ChargebackConfig.ready(): teams never imports chargeback.
"""

from django.contrib.auth.models import Group, Permission

from chargeback.rates import TIER_FIELDS, seed_tier_rates
from teams.constants import APPROVERS_GROUP, FINANCE_GROUP
from teams.models import GpuTier


def remember_tier_prices(sender, instance: GpuTier, raw: bool = False, **kwargs) -> None:
    if raw or instance.pk is None:
        return
    instance._previous_prices = (
        GpuTier.objects.filter(pk=instance.pk).values(*TIER_FIELDS.values()).first()  # None if deleted meanwhile
    )


def follow_tier_prices(sender, instance: GpuTier, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    seed_tier_rates(instance, previous=None if created else getattr(instance, "_previous_prices", None))


def seed_all_tier_rates(**kwargs) -> None:
    """After migrate: tiers that existed before chargeback get their first rates."""
    for tier in GpuTier.objects.all():
        seed_tier_rates(tier)


def grant_rate_permissions(**kwargs) -> None:
    """Approvers keep prices in the admin; finance reads them."""
    permissions = {
        permission.codename: permission
        for permission in Permission.objects.filter(content_type__app_label="chargeback", content_type__model="rate")
    }
    if not permissions:
        return
    approvers, _ = Group.objects.get_or_create(name=APPROVERS_GROUP)
    approvers.permissions.add(*(permissions[f"{action}_rate"] for action in ("view", "add", "change", "delete")))
    finance, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    finance.permissions.add(permissions["view_rate"])
