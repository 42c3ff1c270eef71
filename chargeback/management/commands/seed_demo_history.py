from django.core.management.base import BaseCommand
from django.utils import timezone

from chargeback.demo import seed_history


class Command(BaseCommand):
    help = (
        "Give the demo a fortnight of GPU usage (once), roll it up and run the daily downsize scan, so that the "
        "chargeback page, the auto-approval rule and a downsize proposal show something on first start."
    )

    def handle(self, *args, **options) -> None:
        for line in seed_history(timezone.now()):
            self.stdout.write(line)
