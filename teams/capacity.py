"""What an approval does to the cluster's guaranteed GPUs, against its capacity.

Capacity is observed by provisioning, which teams must not import: provisioning
registers a provider here in its AppConfig.ready().
"""

from collections.abc import Callable
from dataclasses import dataclass

from teams.catalog import TierCatalog
from teams.models import Request, TeamNamespace
from teams.specs import merge_spec, namespace_spec

_capacity_provider: Callable[[], int | None] | None = None


def register_capacity_provider(provider: Callable[[], int | None]) -> None:
    """`provider()` returns the cluster's allocatable GPUs, or None while they are unknown."""
    global _capacity_provider
    _capacity_provider = provider


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


def guaranteed_gpus_by_namespace(catalog: TierCatalog) -> dict[int, int]:
    """Guaranteed GPUs of every live namespace, by id: the sum is what approvers weigh against capacity.

    Reads only each row's tier and quotas: at 10,000 namespaces, loading whole rows cost
    an approval over a second under its row lock.
    """
    return {
        pk: catalog.gpu_allocation(quotas, catalog.by_id[tier_id]).guaranteed
        for pk, tier_id, quotas in TeamNamespace.objects.live().values_list("pk", "tier_id", "quotas")
    }


class CapacityTotals:
    """Guaranteed GPUs per live namespace, read once and reused for every row of a queue.

    The one source of the guaranteed total: the queue and the cluster page both show `total`,
    so they cannot disagree between syncs.
    """

    def __init__(self) -> None:
        self.catalog = TierCatalog.load()
        self.by_namespace = guaranteed_gpus_by_namespace(self.catalog)
        self.total = sum(self.by_namespace.values())
        self.capacity = gpu_capacity()

    def impact(self, request: Request) -> CapacityImpact:
        current = self.by_namespace.get(request.namespace_id, 0)
        if request.kind == Request.Kind.DELETE_NAMESPACE:
            after = 0
        else:
            base = namespace_spec(request.namespace) if request.namespace_id else {}
            spec = merge_spec(base, request.approved_spec)
            tier = self.catalog.by_slug.get(spec.get("tier"))
            after = self.catalog.gpu_allocation(spec.get("quotas") or [], tier).guaranteed if tier else current
        return CapacityImpact(self.capacity, self.total, self.total - current + after)


def capacity_impact(request: Request) -> CapacityImpact:
    return CapacityTotals().impact(request)
