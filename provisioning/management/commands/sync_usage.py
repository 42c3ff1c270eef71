from django.core.management.base import BaseCommand, CommandError

from provisioning.cluster import ClusterError
from provisioning.models import Cluster
from provisioning.sync import sync_capacity, sync_usage
from teams.catalog import format_gpus


class Command(BaseCommand):
    help = "Read quota usage and GPU capacity back from every cluster now, as the periodic task does."

    def handle(self, *args, **options) -> None:
        for cluster in Cluster.objects.all_or_default():
            try:
                result = sync_usage(cluster)
                cluster = sync_capacity(cluster)
            except ClusterError as error:
                raise CommandError(f"{cluster.name}: {error}") from error
            self.stdout.write(
                f"{cluster.name}: {result.namespaces} namespaces ({result.checked} changed or due a heartbeat), "
                f"{result.samples} samples stored, "
                f"{len(result.drifted)} drifted{': ' + ', '.join(result.drifted) if result.drifted else ''}; "
                f"{format_gpus(cluster.gpu_capacity)} GPUs on {cluster.ready_nodes} ready nodes, "
                f"{format_gpus(cluster.guaranteed_gpus)} guaranteed"
            )
