from django.core.management.base import BaseCommand

from teams.demo import seed_demo, seed_demo_rule, seed_grant_example


class Command(BaseCommand):
    help = (
        "Create the seed tutorial's world (corrected for a real API server), its example requests and an "
        "auto-approval rule in dry run, and print the demo sign-ins."
    )

    def handle(self, *args, **options) -> None:
        for line in seed_demo() + seed_grant_example():
            self.stdout.write(line)
        self.stdout.write(seed_demo_rule())
