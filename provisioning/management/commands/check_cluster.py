from django.core.management.base import BaseCommand, CommandError

from provisioning.connection_check import ConnectionCheck, check_connection
from provisioning.models import ClusterConnection
from teams.models import Cluster


class Command(BaseCommand):
    help = (
        "Test a cluster's connection as the portal's identity there: the API server's version, its GPU nodes, "
        "and every permission the portal needs (cluster/rbac.yaml). Exits 1 when anything is missing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="The cluster's name in the portal.")

    def handle(self, *args, name: str, **options) -> None:
        cluster = Cluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"No cluster {name!r}.")
        try:
            connection = ClusterConnection.objects.of(cluster)
        except ClusterConnection.DoesNotExist as error:
            raise CommandError(str(error)) from None
        check = check_connection(connection)
        self.stdout.write(report(check))
        if not check.is_complete:
            raise CommandError(f"Cluster {name} is not ready for the portal: see above.")


def report(check: ConnectionCheck) -> str:
    """The check as plain text, one fact a line."""
    lines = [f"Cluster {check.cluster}: API server {check.version or 'not reached'}"]
    if check.version:
        lines.append(f"GPU nodes: {len(check.nodes)} ({check.gpus} GPUs on Ready nodes)")
        lines += [f"  {node.name}  {'Ready' if node.is_ready else 'NotReady'}  {node.gpus}" for node in check.nodes]
    if check.missing is not None:
        held = check.required - len(check.missing)
        lines.append(f"Permissions: {held} of {check.required} held" + ("; missing:" if check.missing else ""))
        lines += [f"  {permission}" for permission in check.missing]
    lines += [f"Problem: {problem}" for problem in check.problems]
    return "\n".join(lines)
