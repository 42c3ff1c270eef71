"""What an approval does to the cluster's guaranteed GPUs, against its capacity.

Both sides are GPU-equivalents: whole GPUs, MIG slices and time-sliced shares each
counted as units times the catalog's weight (teams.models.GpuResource), so a slice
guaranteed is weighed against the slices the nodes advertise. Capacity is observed by
provisioning, which teams must not import: provisioning registers a provider here in
its AppConfig.ready().
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from django.db.models import Sum

from teams.catalog import TierCatalog
from teams.models import Request, TeamNamespace
from teams.specs import merge_spec, namespace_spec

_capacity_provider: Callable[[], Decimal | None] | None = None


def register_capacity_provider(provider: Callable[[], Decimal | None]) -> None:
    """`provider()` returns the cluster's allocatable GPU-equivalents, or None while they are unknown."""
    global _capacity_provider
    _capacity_provider = provider


def gpu_capacity() -> Decimal | None:
    return _capacity_provider() if _capacity_provider else None


@dataclass(frozen=True)
class CapacityImpact:
    capacity: Decimal | None
    guaranteed_now: Decimal
    guaranteed_after: Decimal

    @property
    def overcommits(self) -> bool:
        """More GPUs guaranteed than the cluster has: the approval would promise what cannot be kept."""
        return (
            self.capacity is not None
            and self.guaranteed_after > self.capacity
            and self.guaranteed_after > self.guaranteed_now
        )

    def as_dict(self) -> dict:
        """For an audit row's JSON: whole GPU-equivalents as numbers, a share as its exact decimal text."""
        return {
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
    namespaces = list(TeamNamespace.objects.live().only("pk", "tier_id", "quotas", "guaranteed_gpus"))
    changed = []
    for namespace in namespaces:
        before = namespace.guaranteed_gpus
        count_guaranteed(namespace, catalog)
        if namespace.guaranteed_gpus != before:
            changed.append(namespace)
    TeamNamespace.objects.bulk_update(changed, ["guaranteed_gpus"], batch_size=2000)
    return len(changed)


def guaranteed_total() -> Decimal:
    """The guaranteed GPU-equivalents of every live namespace: what approvers weigh against capacity."""
    return TeamNamespace.objects.live().aggregate(total=Sum("guaranteed_gpus"))["total"] or Decimal(0)


class CapacityTotals:
    """The cluster's guaranteed GPUs, read once and reused for every row of a queue.

    The one source of the guaranteed total: the queue and the cluster page both show `total`,
    so they cannot disagree between syncs. One SUM at any number of namespaces; the catalog
    is read only when a request's impact is asked for.
    """

    def __init__(self) -> None:
        self.total = guaranteed_total()
        self.capacity = gpu_capacity()

    @cached_property
    def catalog(self) -> TierCatalog:
        return TierCatalog.load()

    def impact(self, request: Request) -> CapacityImpact:
        namespace = request.namespace if request.namespace_id else None
        current = namespace.guaranteed_gpus if namespace is not None and namespace.deleted_at is None else Decimal(0)
        if request.kind == Request.Kind.DELETE_NAMESPACE:
            after = Decimal(0)
        else:
            base = namespace_spec(namespace) if namespace is not None else {}
            spec = merge_spec(base, request.approved_spec)
            tier = self.catalog.by_slug.get(spec.get("tier"))
            after = self.catalog.gpu_allocation(spec.get("quotas") or [], tier).guaranteed if tier else current
        return CapacityImpact(self.capacity, self.total, self.total - current + after)


def capacity_impact(request: Request) -> CapacityImpact:
    return CapacityTotals().impact(request)
