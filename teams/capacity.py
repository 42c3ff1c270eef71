"""What an approval does to its cluster's guaranteed GPUs, against that cluster's capacity.

Both sides are GPU-equivalents: whole GPUs, MIG slices and time-sliced shares each
counted as units times the catalog's weight (teams.models.GpuResource), so a slice
guaranteed is weighed against the slices the nodes advertise.

Capacity and health are observed by provisioning, which teams must not import:
provisioning registers a provider of them here in its AppConfig.ready().
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property

from django.db.models import Count, Sum

from teams.catalog import TierCatalog
from teams.models import Cluster, Request, TeamNamespace
from teams.specs import merge_spec, namespace_spec


@dataclass(frozen=True)
class ClusterStatus:
    """What provisioning last saw of a cluster, in the ground floor's words."""

    capacity: Decimal | None
    ready_nodes: int
    health: str
    health_label: str
    last_synced_at: datetime | None
    last_error: str

    @property
    def reachable(self) -> bool:
        return self.health == "ok"


UNKNOWN = ClusterStatus(None, 0, "unknown", "Not yet synced", None, "")

_status_provider: Callable[[], dict[int, ClusterStatus]] | None = None


def register_status_provider(provider: Callable[[], dict[int, ClusterStatus]]) -> None:
    """`provider()` maps each connected cluster's id to what was last seen there (one query for all)."""
    global _status_provider
    _status_provider = provider


def cluster_statuses() -> dict[int, ClusterStatus]:
    return _status_provider() if _status_provider else {}


def cluster_status(cluster_id: int) -> ClusterStatus:
    """What was last seen of one cluster: whether a namespace's usage on it is current or "last seen"."""
    return cluster_statuses().get(cluster_id, UNKNOWN)


#: (requests with the guaranteed GPUs each adds) -> {request id: what the grant does to its budget}; chargeback's.
_budget_provider: Callable[[list[tuple[Request, Decimal]]], dict[int, str]] | None = None


def register_budget_provider(provider: Callable[[list[tuple[Request, Decimal]]], dict[int, str]]) -> None:
    """Chargeback tells the queue what a grant does to its cost center's (or team's) budget forecast."""
    global _budget_provider
    _budget_provider = provider


def budget_impacts(changes: list[tuple[Request, Decimal]]) -> dict[int, str]:
    """request id -> a sentence on its budget ("adds 1,840 GPU-hours, forecast 112% of ..."), where one applies."""
    return _budget_provider(changes) if _budget_provider and changes else {}


@dataclass(frozen=True)
class CapacityImpact:
    cluster: str
    capacity: Decimal | None
    guaranteed_now: Decimal
    guaranteed_after: Decimal

    @property
    def overcommits(self) -> bool:
        """More GPUs guaranteed than the cluster has: the approval would promise what cannot be kept.

        Only the request's own cluster counts: GPUs free on another cluster cannot run its pods.
        """
        return (
            self.capacity is not None
            and self.guaranteed_after > self.capacity
            and self.guaranteed_after > self.guaranteed_now
        )

    def as_dict(self) -> dict:
        """For an audit row's JSON: whole GPU-equivalents as numbers, a share as its exact decimal text."""
        return {
            "cluster": self.cluster,
            "capacity": json_gpus(self.capacity),
            "guaranteed_now": json_gpus(self.guaranteed_now),
            "guaranteed_after": json_gpus(self.guaranteed_after),
        }


def json_gpus(amount: Decimal | int | None) -> int | str | None:
    if amount is None:
        return None
    amount = Decimal(amount)
    return int(amount) if amount == amount.to_integral_value() else f"{amount.normalize():f}"


def count_guaranteed(namespace: TeamNamespace, catalog: TierCatalog | None = None) -> None:
    """Keep `namespace.guaranteed_gpus` with its quotas and tier; every writer of either calls this."""
    catalog = catalog or TierCatalog.load()
    namespace.guaranteed_gpus = catalog.gpu_allocation(namespace.quotas, catalog.by_id[namespace.tier_id]).guaranteed


def recount_guaranteed() -> int:
    """Count every live namespace again: a tier's edit may move quotas between guaranteed and burst, and a
    GPU resource's new weight changes what its slices are worth."""
    catalog = TierCatalog.load()
    # Across clusters, deliberately: a tier or a weight is the same on every cluster.
    namespaces = list(TeamNamespace.objects.live().only("pk", "tier_id", "quotas", "guaranteed_gpus"))
    changed = []
    for namespace in namespaces:
        before = namespace.guaranteed_gpus
        count_guaranteed(namespace, catalog)
        if namespace.guaranteed_gpus != before:
            changed.append(namespace)
    TeamNamespace.objects.bulk_update(changed, ["guaranteed_gpus"], batch_size=2000)
    return len(changed)


def guaranteed_total(cluster: Cluster) -> Decimal:
    """The guaranteed GPU-equivalents of the live namespaces on `cluster`: weighed against its capacity."""
    total = TeamNamespace.objects.live().filter(cluster=cluster).aggregate(total=Sum("guaranteed_gpus"))["total"]
    return total or Decimal(0)


@dataclass(frozen=True)
class ClusterCapacity:
    """One cluster's guaranteed GPUs against its capacity (None until its first capacity sync)."""

    cluster: Cluster
    guaranteed: Decimal
    namespaces: int
    status: ClusterStatus

    @property
    def capacity(self) -> Decimal | None:
        return self.status.capacity

    @property
    def free(self) -> Decimal | None:
        """GPUs still free to guarantee; negative when the cluster is overcommitted."""
        return None if self.capacity is None else self.capacity - self.guaranteed

    @property
    def overcommitted(self) -> bool:
        return self.capacity is not None and self.guaranteed > self.capacity


class CapacityTotals:
    """Every cluster's guaranteed GPUs and capacity, read once and reused for every row of a queue.

    The one source of the guaranteed totals: the queue, the request form and the cluster page
    all show these, so they cannot disagree between syncs. One GROUP BY at any number of
    namespaces, one query of capacities, whatever the number of requests shown.
    """

    def __init__(self) -> None:
        sums = {
            row["cluster_id"]: row
            for row in TeamNamespace.objects.live()
            .values("cluster_id")
            # COUNT(*), not COUNT(id): the partial index on (cluster, guaranteed_gpus) then answers alone.
            .annotate(guaranteed=Sum("guaranteed_gpus"), namespaces=Count("*"))
            .order_by()
        }
        statuses = cluster_statuses()
        self.rows = [
            ClusterCapacity(
                cluster=cluster,
                guaranteed=(sums.get(cluster.pk) or {}).get("guaranteed") or Decimal(0),
                namespaces=(sums.get(cluster.pk) or {}).get("namespaces") or 0,
                status=statuses.get(cluster.pk, UNKNOWN),
            )
            for cluster in Cluster.objects.all()
        ]
        self.by_cluster = {row.cluster.pk: row for row in self.rows}

    @cached_property
    def catalog(self) -> TierCatalog:
        """Read only when an impact is asked for: pages that show totals alone need no tiers."""
        return TierCatalog.load()

    def of(self, cluster_id: int) -> ClusterCapacity:
        return self.by_cluster[cluster_id]

    def attach(self, request: Request) -> None:
        """Give `request` its cluster and its namespace's tier from the rows read here already.

        A queue page then joins two tables fewer: with eight, PostgreSQL spent 11 to 15 ms planning
        a query that ran in 1.
        """
        request.cluster = self.of(request.cluster_id).cluster
        if request.namespace_id:
            request.namespace.tier = self.catalog.by_id[request.namespace.tier_id]

    def impact(self, request: Request) -> CapacityImpact:
        """What approving `request` does to its own cluster's guaranteed GPUs."""
        namespace = request.namespace if request.namespace_id else None
        current = namespace.guaranteed_gpus if namespace is not None and namespace.deleted_at is None else Decimal(0)
        if request.kind == Request.Kind.DELETE_NAMESPACE:
            after = Decimal(0)
        else:
            base = namespace_spec(namespace) if namespace is not None else {}
            spec = merge_spec(base, request.approved_spec)
            tier = self.catalog.by_slug.get(spec.get("tier"))
            after = self.catalog.gpu_allocation(spec.get("quotas") or [], tier).guaranteed if tier else current
        row = self.of(request.cluster_id)
        return CapacityImpact(row.cluster.name, row.capacity, row.guaranteed, row.guaranteed - current + after)


def capacity_impact(request: Request) -> CapacityImpact:
    return CapacityTotals().impact(request)
