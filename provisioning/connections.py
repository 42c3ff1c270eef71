"""Adding, changing and removing a cluster connection: the one write path for clusters the portal reaches.

A cluster is two rows (teams.Cluster, who it is; ClusterConnection, how to reach it), made and
removed together here, in one transaction with one audit row each time. Audit rows name where
the credentials come from (uploaded, a path, in-cluster) and the context, never the credentials.
The portal's page, `manage.py connect_cluster` and `remove_cluster` call these; only approvers may.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError

from provisioning import credentials, kubeconfigs
from provisioning.models import ClusterConnection
from teams import events, roles
from teams.limits import UNSTORABLE, UNSTORABLE_MESSAGE
from teams.models import Cluster, TeamNamespace

MAX_CONTEXT_LENGTH = ClusterConnection._meta.get_field("context").max_length
MAX_PATH_LENGTH = ClusterConnection._meta.get_field("kubeconfig_path").max_length
#: Namespaces named in a refusal to remove a cluster; the rest are counted.
NAMED_NAMESPACES = 5


@dataclass(frozen=True)
class Source:
    """Where a connection's credentials come from: exactly one of an upload, a path, or the pod's ServiceAccount."""

    kubeconfig: bytes | None = None
    kubeconfig_path: str = ""
    context: str = ""
    in_cluster: bool = False


def check_source(source: Source) -> dict:
    """The connection's fields for `source` (the upload encrypted), or ValidationError naming the field."""
    chosen = [source.kubeconfig is not None, bool(source.kubeconfig_path), source.in_cluster]
    if sum(chosen) != 1:
        raise ValidationError(
            {"source": "Choose one: upload a kubeconfig, give a kubeconfig's path, or connect in-cluster."}
        )
    if len(source.context) > MAX_CONTEXT_LENGTH or UNSTORABLE.search(source.context):
        raise ValidationError({"context": f"At most {MAX_CONTEXT_LENGTH} characters; {UNSTORABLE_MESSAGE}"})
    if source.in_cluster:
        return {"in_cluster": True, "kubeconfig_path": "", "kubeconfig_encrypted": "", "context": ""}
    if source.kubeconfig_path:
        if len(source.kubeconfig_path) > MAX_PATH_LENGTH or UNSTORABLE.search(source.kubeconfig_path):
            raise ValidationError({"kubeconfig_path": f"At most {MAX_PATH_LENGTH} characters; {UNSTORABLE_MESSAGE}"})
        context = kubeconfigs.check_path(source.kubeconfig_path, source.context)
        return {
            "in_cluster": False,
            "kubeconfig_path": source.kubeconfig_path,
            "kubeconfig_encrypted": "",
            "context": context,
        }
    try:
        credentials.check_configured()
    except credentials.CredentialsError as error:
        raise ValidationError({"kubeconfig": str(error)}) from None
    text, _, context = kubeconfigs.check_uploaded(source.kubeconfig, source.context)
    return {
        "in_cluster": False,
        "kubeconfig_path": "",
        "kubeconfig_encrypted": credentials.encrypt(text),
        "context": context,
    }


def connect_cluster(*, actor, name: str, description: str = "", source: Source) -> Cluster:
    """A new cluster the portal may provision, reached through `source`; nothing is stored on error."""
    roles.require_approver(actor)
    cluster = Cluster(name=name, description=description)
    try:
        cluster.full_clean(exclude=["is_default"])
    except ValidationError as error:
        raise ValidationError({field: messages[0] for field, messages in error.message_dict.items()}) from None
    fields = check_source(source)
    with transaction.atomic():
        cluster.save()
        connection = ClusterConnection.objects.create(cluster=cluster, **fields)
        events.record("cluster.connected", actor=actor, target=audit_target(cluster), after=audit_snapshot(connection))
    return cluster


def change_connection(cluster: Cluster, *, actor, source: Source) -> ClusterConnection:
    """Reach `cluster` through `source` from now on (a cluster added in the admin gets its first connection).

    What was seen there (health, capacity) stays until the next sync.
    """
    roles.require_approver(actor)
    fields = check_source(source)
    with transaction.atomic():
        connection = ClusterConnection.objects.select_for_update().filter(cluster=cluster).first()
        connection = connection or ClusterConnection(cluster=cluster)
        before = {} if connection._state.adding else audit_snapshot(connection)
        for field, value in fields.items():
            setattr(connection, field, value)
        connection.save()
        after = audit_snapshot(connection)
        # A new upload is a change even when its context and kind are the same.
        changed = [key for key in after if before.get(key) != after[key]] or ["source"]
        events.record(
            "cluster.connection_changed",
            actor=actor,
            target=audit_target(cluster),
            before={key: before[key] for key in changed if key in before},
            after={key: after[key] for key in changed},
        )
    return connection


def remove_cluster(cluster: Cluster, *, actor) -> None:
    """Remove a cluster and its connection, refused while it still holds namespaces or other history."""
    roles.require_approver(actor)
    if cluster.is_default:
        raise ValidationError(
            {"cluster": f"{cluster.name} is the default cluster: make another cluster the default first."}
        )
    # Deliberately this one cluster: what keeps it from being removed.
    live = list(TeamNamespace.objects.live().filter(cluster=cluster).order_by("name").values_list("name", flat=True))
    if live:
        shown = ", ".join(live[:NAMED_NAMESPACES]) + (
            f" and {len(live) - NAMED_NAMESPACES} more" if len(live) > NAMED_NAMESPACES else ""
        )
        raise ValidationError(
            {
                "cluster": f"{cluster.name} still has {len(live)} managed namespace(s): {shown}. Delete them through "
                "requests first; the portal never leaves namespaces on a cluster it no longer reaches."
            }
        )
    with transaction.atomic():
        connection = ClusterConnection.objects.filter(cluster=cluster).first()
        before = audit_snapshot(connection) if connection else {}
        try:
            with transaction.atomic():
                cluster.delete()
        except ProtectedError:
            raise ValidationError(
                {
                    "cluster": f"{cluster.name} keeps the history of deleted namespaces and requests, which audit and "
                    "chargeback name: it cannot be removed."
                }
            ) from None
        events.record("cluster.removed", actor=actor, target=audit_target(cluster), before=before)


def audit_target(cluster: Cluster) -> str:
    return f"cluster:{cluster.name}"


def audit_snapshot(connection: ClusterConnection) -> dict:
    """What an audit row says of a connection: never the credentials themselves."""
    return {"name": connection.cluster.name, "source": connection.source, "context": connection.context}
