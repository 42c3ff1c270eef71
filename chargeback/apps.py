from django.apps import AppConfig


class ChargebackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chargeback"

    def ready(self) -> None:
        from chargeback.idle import team_gpu_usage
        from teams.autoapproval import register_usage_provider

        register_usage_provider(team_gpu_usage)
