from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from chargeback import rollups


class Command(BaseCommand):
    help = "Roll raw usage samples up into hourly and daily rows now (what the beat task does every few minutes)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--max-hours", type=int, help="At most this many hours in this run.")
        parser.add_argument(
            "--restart-from",
            metavar="DATETIME",
            help="Recompute from this UTC time on (ISO 8601), e.g. after samples were corrected.",
        )

    def handle(self, *args, max_hours: int | None, restart_from: str | None, **options) -> None:
        if restart_from:
            moment = parse_datetime(restart_from)
            if moment is None or moment.tzinfo is None:
                raise CommandError("--restart-from takes an ISO 8601 date-time with a zone, e.g. 2026-10-01T00:00Z.")
            rollups.restart_from(moment)
        result = rollups.roll_up(max_hours=max_hours)
        self.stdout.write(
            f"{result.hours} hours ({result.hourly_rows} rows) and {result.days} days ({result.daily_rows} rows) "
            f"rolled up; complete until {result.complete_until or 'nothing yet'}."
        )
