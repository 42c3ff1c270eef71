"""Clusters for tests: the ground floor's identity and provisioning's connection, made together."""

from provisioning.models import ClusterConnection
from teams.models import Cluster


def connect(name: str, *, is_default: bool = False, **connection) -> Cluster:
    """A cluster named `name` with a connection (kubeconfig, context, observed capacity...).

    The default cluster is the one that exists already (seeding makes it on first use), renamed:
    there is one default, and namespaces seeded before stay on it.
    """
    if is_default:
        cluster = Cluster.objects.get_default()
        cluster.name = name
        cluster.save(update_fields=["name"])
    else:
        cluster = Cluster.objects.create(name=name)
    ClusterConnection.objects.update_or_create(cluster=cluster, defaults=connection)
    return cluster
