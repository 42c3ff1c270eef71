from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Health probes and Prometheus metrics: what a platform team watches the portal by."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "monitoring"

    def ready(self) -> None:
        from monitoring.tallies import tally_event
        from teams.events import event_recorded

        event_recorded.connect(tally_event, dispatch_uid="monitoring.tally_event")
