from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TeamsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "teams"
    verbose_name = "Teams and requests"

    def ready(self) -> None:
        from teams.groups import ensure_groups

        post_migrate.connect(ensure_groups, sender=self)
