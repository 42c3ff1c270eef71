from django.apps import AppConfig
from django.db.models.signals import post_migrate, post_save, pre_save


class ChargebackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chargeback"

    def ready(self) -> None:
        from chargeback import signals
        from teams.models import GpuTier

        pre_save.connect(signals.remember_tier_prices, sender=GpuTier, dispatch_uid="chargeback.remember_prices")
        post_save.connect(signals.follow_tier_prices, sender=GpuTier, dispatch_uid="chargeback.follow_prices")
        post_migrate.connect(signals.seed_all_tier_rates, sender=self, dispatch_uid="chargeback.seed_rates")
        post_migrate.connect(signals.grant_rate_permissions, sender=self, dispatch_uid="chargeback.permissions")
