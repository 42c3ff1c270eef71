"""Making one namespace on the cluster match its desired state, and asking the cluster first."""

import copy
import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils import timezone

from provisioning.cluster import ClusterError, ClusterGateway, ConflictError
from provisioning.manifests import render_namespace_objects, render_priority_class
from teams.catalog import TierCatalog
from teams.models import Cluster, GpuTier, Request, Team, TeamNamespace
from teams.specs import merge_spec, scoped_priority_classes

logger = logging.getLogger(__name__)


def desired_objects(namespace: TeamNamespace, catalog: TierCatalog | None = None) -> list[dict]:
    """The PriorityClasses the namespace needs, then its own objects: exactly what is applied.

    Besides the tier's own class, every class a quota's scopeSelector names is applied too:
    the API server refuses a pod whose PriorityClass does not exist, so an enforced burst
    quota scoped to `ml-low` would otherwise admit nothing on a cluster that has no
    best-effort namespace yet.
    """
    catalog = catalog or TierCatalog.load()
    objects = render_namespace_objects(namespace, catalog)
    named = {namespace.tier.priority_class_name}
    for quota in (o["spec"] for o in objects if o["kind"] == "ResourceQuota"):
        named |= (scoped_priority_classes(quota) or ("", set()))[1]
    needed = [catalog.by_priority_class[name] for name in named if name in catalog.by_priority_class]
    return [*(render_priority_class(tier) for tier in sorted(needed, key=lambda t: -t.priority_value)), *objects]


def apply_namespace(namespace: TeamNamespace, *, force: bool = False) -> list:
    """Apply the namespace's desired state on its cluster; raises a ClusterError kind on failure."""
    objects = desired_objects(namespace)
    with ClusterGateway(namespace.cluster) as gateway:
        applied = gateway.apply_namespace(
            namespace.name, objects, allow_unmanaged=namespace.adopted_at is not None, force=force
        )
    # Whatever failed before, the cluster now holds the desired state.
    TeamNamespace.objects.filter(pk=namespace.pk).update(
        observed_quotas=applied_quotas(objects),
        synced_fingerprint="",  # the next sync reads this namespace in full, whatever raced the apply
        phase=TeamNamespace.Phase.ACTIVE,
        last_applied_at=timezone.now(),
        is_drifted=False,
        drift={},
        reconcile_state=TeamNamespace.ReconcileState.RECONCILED,
        reconcile_error="",
        reconcile_failed_at=None,
        reconcile_failed_digest="",
    )
    logger.info(
        "namespace.applied",
        extra={
            "cluster": namespace.cluster.name,
            "namespace": namespace.name,
            "objects": len(applied),
            "forced": force,
        },
    )
    return applied


def applied_quotas(objects: list[dict]) -> dict:
    """The observed state an apply leaves: the applied hard, with usage unknown until the next sync.

    Pages then show what was applied at once instead of the old hard for a sync interval. Usage
    stays unknown rather than kept: the next sync then sees it move and stores a sample with the
    new hard, which chargeback needs.
    """
    return {
        manifest["metadata"]["name"]: {"hard": dict(manifest["spec"].get("hard") or {}), "used": None}
        for manifest in objects
        if manifest["kind"] == "ResourceQuota"
    }


def desired_digest(namespace: TeamNamespace, catalog: TierCatalog | None = None) -> str:
    """A digest of exactly what would be applied: it moves with any change of desired state (spec, team, tier)."""
    document = json.dumps(desired_objects(namespace, catalog), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(document.encode()).hexdigest()


def due_for_reconcile(cluster: Cluster, names: Iterable[str]) -> list[int]:
    """The drifted namespaces an automatic reconcile may take on: not those whose reconcile failed.

    A failure stands until the desired state changes (its digest moves) or an approver asks
    for a re-apply (teams.workflow.request_reconcile clears the digest), so a permanent error
    is not retried every sync cycle.
    """
    catalog = TierCatalog.load()
    due = []
    namespaces = TeamNamespace.objects.live().filter(cluster=cluster, name__in=list(names))
    namespaces = namespaces.select_related("cluster", "team__cost_center", "tier")
    for namespace in namespaces:
        held = namespace.reconcile_failed_digest
        if held and held == desired_digest(namespace, catalog):
            logger.info("namespace.reconcile_held", extra={"namespace": namespace.name})
            continue
        due.append(namespace.pk)
    return due


def delete_namespace(namespace: TeamNamespace, *, force: bool) -> None:
    with ClusterGateway(namespace.cluster) as gateway:
        gateway.delete_namespace(namespace.name, force=force)
    TeamNamespace.objects.filter(pk=namespace.pk).update(phase=TeamNamespace.Phase.TERMINATING)
    logger.info(
        "namespace.deleted", extra={"cluster": namespace.cluster.name, "namespace": namespace.name, "forced": force}
    )


@dataclass(frozen=True)
class DryRunVerdict:
    accepted: bool
    message: str
    objects: list[str]


def dry_run_request(request: Request) -> DryRunVerdict:
    """What the request's cluster says of it, with dryRun=All: nothing is stored."""
    if request.kind == Request.Kind.DELETE_NAMESPACE:
        return DryRunVerdict(True, "Deletion needs no validation by the API server.", [])
    namespace = proposed_namespace(request)
    objects = desired_objects(namespace)
    try:
        with ClusterGateway(request.cluster) as gateway:
            gateway.check_ownership(namespace.name, allow_unmanaged=namespace.adopted_at is not None)
            if gateway.namespace_labels(namespace.name) is None:
                # Namespaced objects cannot be dry-run in a namespace that does not exist yet: the API
                # server validates them the same in any namespace, so ask it about them in `default`.
                objects = [_in_namespace(manifest, "default") for manifest in objects]
            applied = gateway.apply(objects, dry_run=True)
    except ConflictError as error:
        return DryRunVerdict(False, f"{error} (field managers: {', '.join(error.managers) or 'unknown'})", [])
    except ClusterError as error:
        return DryRunVerdict(False, str(error), [])
    names = [f"{item.kind}/{item.name}" for item in applied]
    return DryRunVerdict(True, f"The API server accepts all {len(names)} objects.", names)


def proposed_namespace(request: Request) -> TeamNamespace:
    """An unsaved namespace holding the state the request would leave behind."""
    proposed = request.approved_spec
    if request.namespace_id:
        namespace = copy.copy(request.namespace)
        current = {"tier": namespace.tier.slug, "quotas": namespace.quotas, "limitRange": namespace.limit_range}
    else:
        namespace = TeamNamespace(
            name=request.namespace_name, cluster=request.cluster, team=Team.objects.get(pk=request.team_id)
        )
        current = {}
    spec = merge_spec(current, proposed)
    namespace.tier = GpuTier.objects.get(slug=spec["tier"])
    namespace.labels = spec.get("labels", namespace.labels) or {}
    namespace.quotas = spec.get("quotas") or []
    namespace.limit_range = spec.get("limitRange") or {}
    return namespace


def _in_namespace(manifest: dict, namespace: str) -> dict:
    if manifest["kind"] in ("Namespace", "PriorityClass"):
        return manifest
    moved = copy.deepcopy(manifest)
    moved["metadata"]["namespace"] = namespace
    return moved
