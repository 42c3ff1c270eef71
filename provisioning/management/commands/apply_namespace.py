from django.core.management.base import BaseCommand, CommandError

from provisioning import applying
from provisioning.cluster import ClusterError
from teams import events
from teams.events import system_actor
from teams.models import Cluster, TeamNamespace


class Command(BaseCommand):
    help = "Apply namespaces' desired state to the cluster now (server-side apply, field manager gpu-portal)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("names", nargs="*", help="Namespaces to apply.")
        parser.add_argument(
            "--all", action="store_true", help="Apply every namespace the portal manages (on every cluster)."
        )
        parser.add_argument(
            "--cluster", help="The cluster of the named namespaces (or of --all); default: the default."
        )
        parser.add_argument(
            "--force", action="store_true", help="Take back fields another field manager changed (resolves drift)."
        )

    def handle(self, *args, names: list[str], all: bool, force: bool, cluster: str | None, **options) -> None:
        namespaces = TeamNamespace.objects.live().select_related("cluster", "team__cost_center", "tier")
        if cluster or not all:
            where = Cluster.objects.filter(name=cluster).first() if cluster else Cluster.objects.get_default()
            if where is None:
                raise CommandError(f"No cluster {cluster!r}.")
            namespaces = namespaces.filter(cluster=where)
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
                self.stderr.write(f"{namespace.cluster}/{namespace.name}: {error}")
                continue
            events.record(
                "namespace.applied", actor=system_actor(), target=namespace.audit_target, after={"forced": force}
            )
            self.stdout.write(
                f"{namespace.cluster}/{namespace.name}: applied {', '.join(f'{o.kind}/{o.name}' for o in applied)}"
            )
        if failures:
            raise CommandError(f"{failures} namespace(s) could not be applied.")
