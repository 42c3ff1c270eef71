from django.conf import settings
from django.core.management.base import BaseCommand

from chargeback import rollups


class Command(BaseCommand):
    help = "Delete raw usage samples older than CHARGEBACK_RAW_RETENTION_DAYS that are already rolled up."

    def handle(self, *args, **options) -> None:
        deleted = rollups.prune_samples()
        self.stdout.write(f"{deleted} samples deleted (retention {settings.CHARGEBACK_RAW_RETENTION_DAYS} days).")
