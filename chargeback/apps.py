from django.apps import AppConfig


class ChargebackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chargeback"

    def ready(self) -> None:
        from chargeback.adjustments import closed_months
        from chargeback.budgets import grant_impacts
        from chargeback.idle import team_gpu_usage
        from teams.autoapproval import register_usage_provider
        from teams.capacity import register_budget_provider
        from teams.catalog import register_closed_months

        register_closed_months(closed_months)
        register_budget_provider(grant_impacts)
        register_usage_provider(team_gpu_usage)
