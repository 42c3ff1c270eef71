from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from provisioning.connections import Source, change_connection, connect_cluster
from teams.limits import MAX_KUBECONFIG_BYTES
from teams.models import Cluster


class Command(BaseCommand):
    help = (
        "Add a cluster the portal provisions (or, with --replace, change how it is reached): from a kubeconfig "
        "stored encrypted in the database (--kubeconfig FILE, needs CLUSTER_CREDENTIALS_KEY), a kubeconfig the "
        "portal's processes read at a path (--kubeconfig-path), or the pod's ServiceAccount (--in-cluster). "
        "Audited as --actor, an approver. Test it with `manage.py check_cluster NAME`."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="The cluster's name in URLs, the API and metrics (a DNS label).")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--kubeconfig", type=Path, help="Upload this kubeconfig file's content, encrypted.")
        source.add_argument("--kubeconfig-path", default="", help="Absolute path the web and worker processes read.")
        source.add_argument("--in-cluster", action="store_true", help="Use the pod's ServiceAccount.")
        parser.add_argument("--context", default="", help="Context in the kubeconfig; default: its current context.")
        parser.add_argument("--description", default="", help="What the cluster is for.")
        parser.add_argument("--actor", required=True, help="Username of the approver doing it (audited).")
        parser.add_argument("--replace", action="store_true", help="Change the connection of an existing cluster.")

    def handle(self, *args, name: str, kubeconfig: Path | None, actor: str, replace: bool, **options) -> None:
        user = get_user_model().objects.filter(username=actor).first()
        if user is None:
            raise CommandError(f"No user {actor!r}.")
        content = None
        if kubeconfig is not None:
            try:
                with kubeconfig.open("rb") as file:
                    content = file.read(MAX_KUBECONFIG_BYTES + 1)
            except OSError as error:
                raise CommandError(f"Cannot read {kubeconfig}: {error.strerror}.") from None
        source = Source(
            kubeconfig=content,
            kubeconfig_path=options["kubeconfig_path"],
            context=options["context"],
            in_cluster=options["in_cluster"],
        )
        try:
            if replace:
                cluster = Cluster.objects.filter(name=name).first()
                if cluster is None:
                    raise CommandError(f"No cluster {name!r} to change; leave out --replace to add it.")
                change_connection(cluster, actor=user, source=source)
                self.stdout.write(f"Cluster {name} is now reached through the new connection.")
            else:
                connect_cluster(actor=user, name=name, description=options["description"], source=source)
                self.stdout.write(f"Cluster {name} added. Test it: python manage.py check_cluster {name}")
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
            ) from None
        except PermissionDenied as error:
            raise CommandError(str(error)) from None
