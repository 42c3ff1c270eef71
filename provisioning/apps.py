from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "provisioning"

    def ready(self) -> None:
        from provisioning.signals import default_cluster_gpu_capacity, enqueue_on_apply_requested
        from teams.capacity import register_capacity_provider
        from teams.signals import apply_requested

        apply_requested.connect(enqueue_on_apply_requested, dispatch_uid="provisioning.enqueue_apply")
        register_capacity_provider(default_cluster_gpu_capacity)
