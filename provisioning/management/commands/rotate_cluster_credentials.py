from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from provisioning import credentials
from provisioning.models import ClusterConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt every uploaded kubeconfig under the first key of CLUSTER_CREDENTIALS_KEY, so that the keys "
        "after it can be removed from the setting. Nothing changes for the clusters: same credentials, new key."
    )

    def handle(self, *args, **options) -> None:
        rotated = 0
        try:
            with transaction.atomic():
                for connection in ClusterConnection.objects.select_for_update().exclude(kubeconfig_encrypted=""):
                    connection.kubeconfig_encrypted = credentials.rotate(connection.kubeconfig_encrypted)
                    connection.save(update_fields=["kubeconfig_encrypted"])
                    rotated += 1
        except credentials.CredentialsError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Re-encrypted {rotated} uploaded kubeconfig(s) under the first key.")
