from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_delete, pre_save


class TeamsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "teams"
    verbose_name = "Teams and requests"

    def ready(self) -> None:
        from teams.catalog import refuse_deleting_rate_in_closed_month, refuse_saving_rate_in_closed_month
        from teams.groups import ensure_groups
        from teams.models import Rate

        post_migrate.connect(ensure_groups, sender=self)
        pre_save.connect(refuse_saving_rate_in_closed_month, sender=Rate)
        pre_delete.connect(refuse_deleting_rate_in_closed_month, sender=Rate)
