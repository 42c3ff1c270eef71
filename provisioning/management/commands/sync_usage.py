from django.core.management.base import BaseCommand, CommandError

from provisioning.cluster import ClusterError
from provisioning.models import ClusterConnection
from provisioning.sync import sync_capacity, sync_usage
from teams.capacity import guaranteed_total
from teams.catalog import format_gpus


class Command(BaseCommand):
    help = "Read quota usage and GPU capacity back from every cluster (or one) now, as the periodic tasks do."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cluster", help="Sync only this cluster.")

    def handle(self, *args, cluster: str | None, **options) -> None:
        connections = [c for c in ClusterConnection.objects.every() if cluster in (None, c.cluster.name)]
        if not connections:
            raise CommandError(f"No connected cluster {cluster!r}.")
        failed = []
        for connection in connections:
            name = connection.cluster.name
            try:
                result = sync_usage(connection.cluster)
                connection = sync_capacity(connection.cluster)
            except ClusterError as error:
                # One cluster down does not keep the others from being synced, as in the periodic tasks.
                self.stderr.write(f"{name}: {error}")
                failed.append(name)
                continue
            drifted = f": {', '.join(result.drifted)}" if result.drifted else ""
            self.stdout.write(
                f"{name}: {result.namespaces} namespaces ({result.checked} changed or due a heartbeat), "
                f"{result.samples} samples stored, {len(result.drifted)} drifted{drifted}; "
                f"{format_gpus(connection.gpu_capacity)} GPUs on {connection.ready_nodes} ready nodes, "
                f"{format_gpus(guaranteed_total(connection.cluster))} guaranteed"
            )
        if failed:
            raise CommandError(f"Could not sync {', '.join(failed)}.")
