from django.core.management.base import BaseCommand, CommandError

from provisioning import applying
from provisioning.cluster import ClusterError
from teams import events
from teams.events import system_actor
from teams.models import TeamNamespace


class Command(BaseCommand):
    help = "Apply namespaces' desired state to the cluster now (server-side apply, field manager gpu-portal)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("names", nargs="*", help="Namespaces to apply.")
        parser.add_argument("--all", action="store_true", help="Apply every namespace the portal manages.")
        parser.add_argument(
            "--force", action="store_true", help="Take back fields another field manager changed (resolves drift)."
        )

    def handle(self, *args, names: list[str], all: bool, force: bool, **options) -> None:
        namespaces = TeamNamespace.objects.live().select_related("team__cost_center", "tier")
        if not all:
            if not names:
                raise CommandError("Name the namespaces to apply, or pass --all.")
            unknown = set(names) - set(namespaces.filter(name__in=names).values_list("name", flat=True))
            if unknown:
                raise CommandError(f"The portal manages no namespace named {', '.join(sorted(unknown))}.")
            namespaces = namespaces.filter(name__in=names)
        failures = 0
        for namespace in namespaces:
            try:
                applied = applying.apply_namespace(namespace, force=force)
            except ClusterError as error:
                failures += 1
                self.stderr.write(f"{namespace.name}: {error}")
                continue
            events.record(
                "namespace.applied", actor=system_actor(), target=f"namespace:{namespace.name}", after={"forced": force}
            )
            self.stdout.write(f"{namespace.name}: applied {', '.join(f'{o.kind}/{o.name}' for o in applied)}")
        if failures:
            raise CommandError(f"{failures} namespace(s) could not be applied.")
