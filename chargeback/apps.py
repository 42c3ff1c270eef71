from django.apps import AppConfig


class ChargebackConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chargeback"
