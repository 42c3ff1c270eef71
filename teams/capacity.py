"""What an approval does to the cluster's guaranteed GPUs, against its capacity.

Capacity is observed by provisioning, which teams must not import: provisioning
registers a provider here in its AppConfig.ready().
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Sum

from teams.catalog import TierCatalog
from teams.models import Request, TeamNamespace
from teams.specs import merge_spec, namespace_spec

_capacity_provider: Callable[[], int | None] | None = None
#: (requests with the guaranteed GPUs each adds) -> {request id: what the grant does to its budget}; chargeback's.
_budget_provider: Callable[[list[tuple[Request, int]]], dict[int, str]] | None = None


def register_capacity_provider(provider: Callable[[], int | None]) -> None:
    """`provider()` returns the cluster's allocatable GPUs, or None while they are unknown."""
    global _capacity_provider
    _capacity_provider = provider


def register_budget_provider(provider: Callable[[list[tuple[Request, int]]], dict[int, str]]) -> None:
    """Chargeback tells the queue what a grant does to its cost center's (or team's) budget forecast."""
    global _budget_provider
    _budget_provider = provider


def budget_impacts(changes: list[tuple[Request, int]]) -> dict[int, str]:
    """request id -> a sentence on its budget ("adds 1,840 GPU-hours, forecast 112% of ..."), where one applies."""
    return _budget_provider(changes) if _budget_provider and changes else {}


def gpu_capacity() -> int | None:
    return _capacity_provider() if _capacity_provider else None


@dataclass(frozen=True)
class CapacityImpact:
    capacity: int | None
    guaranteed_now: int
    guaranteed_after: int

    @property
    def overcommits(self) -> bool:
        """More GPUs guaranteed than the cluster has: the approval would promise what cannot be kept."""
        return (
            self.capacity is not None
            and self.guaranteed_after > self.capacity
            and self.guaranteed_after > self.guaranteed_now
        )

    def as_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "guaranteed_now": self.guaranteed_now,
            "guaranteed_after": self.guaranteed_after,
        }


def count_guaranteed(namespace: TeamNamespace, catalog: TierCatalog | None = None) -> None:
    """Keep `namespace.guaranteed_gpus` with its quotas and tier; every writer of either calls this."""
    catalog = catalog or TierCatalog.load()
    namespace.guaranteed_gpus = catalog.gpu_allocation(namespace.quotas, catalog.by_id[namespace.tier_id]).guaranteed


def recount_guaranteed() -> int:
    """Count every live namespace again: a tier's edit may move quotas between guaranteed and burst."""
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


def guaranteed_total() -> int:
    """The guaranteed GPUs of every live namespace: what approvers weigh against capacity."""
    return TeamNamespace.objects.live().aggregate(total=Sum("guaranteed_gpus"))["total"] or 0


class CapacityTotals:
    """The cluster's guaranteed GPUs, read once and reused for every row of a queue.

    The one source of the guaranteed total: the queue and the cluster page both show `total`,
    so they cannot disagree between syncs. One SUM at any number of namespaces.
    """

    def __init__(self) -> None:
        self.catalog = TierCatalog.load()
        self.total = guaranteed_total()
        self.capacity = gpu_capacity()

    def impact(self, request: Request) -> CapacityImpact:
        namespace = request.namespace if request.namespace_id else None
        current = namespace.guaranteed_gpus if namespace is not None and namespace.deleted_at is None else 0
        if request.kind == Request.Kind.DELETE_NAMESPACE:
            after = 0
        else:
            base = namespace_spec(namespace) if namespace is not None else {}
            spec = merge_spec(base, request.approved_spec)
            tier = self.catalog.by_slug.get(spec.get("tier"))
            after = self.catalog.gpu_allocation(spec.get("quotas") or [], tier).guaranteed if tier else current
        return CapacityImpact(self.capacity, self.total, self.total - current + after)


def capacity_impact(request: Request) -> CapacityImpact:
    return CapacityTotals().impact(request)
