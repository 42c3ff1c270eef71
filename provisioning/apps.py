from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "provisioning"

    def ready(self) -> None:
        from provisioning.signals import (
            cluster_statuses,
            enqueue_apply_on_event,
            enqueue_reconcile_on_event,
        )
        from teams.capacity import register_status_provider
        from teams.events import event_recorded

        event_recorded.connect(enqueue_apply_on_event, dispatch_uid="provisioning.enqueue_apply")
        event_recorded.connect(enqueue_reconcile_on_event, dispatch_uid="provisioning.enqueue_reconcile")
        register_status_provider(cluster_statuses)
