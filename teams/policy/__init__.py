"""What a request may ask for: every rule a submission is checked against, in one place.

The rules are the API server's own (names, quantities, scopes, LimitRange defaulting)
plus the portal's (tiers, GPUs). Each finding names the field it is about. Errors stop
a request before anything is stored; warnings are stored with it and shown to
approvers. The seed's three mistakes each have a rule here whose message explains
what the API server would do with them and how to fix them.
"""

from teams.catalog import TierCatalog
from teams.models import Cluster, Request, Team, TeamNamespace
from teams.policy.limit_ranges import LimitRangeRules
from teams.policy.names import NameRules, is_reserved_namespace
from teams.policy.quotas import QuotaRules
from teams.policy.report import Finding, PolicyError, PolicyReport
from teams.policy.scopes import ScopeRules
from teams.policy.tiers import TierRules
from teams.quantities import Quantity, QuantityError, parse_quantity
from teams.specs import SECTIONS, namespace_spec, resolve_proposal, spec_changes

__all__ = [
    "Finding",
    "PolicyError",
    "PolicyReport",
    "check_namespace_spec",
    "check_request",
    "is_reserved_namespace",
    "resolve_cluster",
]

Kind = Request.Kind


def check_request(
    kind: str,
    *,
    team: Team,
    namespace_name: str,
    proposed: object,
    namespace: TeamNamespace | None = None,
    cluster: Cluster | str | None = None,
    request_id: int | None = None,
    resolved: bool = False,
) -> PolicyReport:
    """Check what a request proposes, given the cluster's desired state now.

    `request_id` is the request being re-checked at approval, which must not count as
    its own competitor for the namespace name. `resolved` says `proposed` is a stored
    proposal, already merged (whole sections), rather than a merge patch. `cluster` is where a
    new namespace goes, or its name as a form or the API sent it (the default cluster when
    None or empty); other kinds act on the namespace where it is.
    """
    checker = _Checker(kind, team, namespace_name, proposed, namespace, request_id)
    checker.cluster = namespace.cluster if namespace is not None else resolve_cluster(cluster)
    checker.cluster_name = cluster if isinstance(cluster, str) else ""
    checker.resolved = resolved
    return checker.run()


def resolve_cluster(cluster: Cluster | str | None) -> Cluster | None:
    """The cluster a request names: given, by name (None if there is none of that name), or the default."""
    if isinstance(cluster, Cluster):
        return cluster
    return Cluster.objects.filter(name=cluster).first() if cluster else Cluster.objects.get_default()


def check_namespace_spec(*, team: Team, spec: dict) -> PolicyReport:
    """Check a whole namespace spec's content, without the rules on its name.

    For namespaces that come from outside the request flow: the seed's world, adoption.
    """
    checker = _Checker(Kind.CREATE_NAMESPACE, team, "", spec, None, None)
    checker.check_name = False
    checker.cluster = None
    return checker.run()


class _Checker(NameRules, QuotaRules, ScopeRules, LimitRangeRules, TierRules):
    def __init__(self, kind, team, namespace_name, proposed, namespace, request_id) -> None:
        self.kind = kind
        self.team = team
        self.name = namespace_name or ""
        self.raw = proposed
        self.namespace = namespace
        self.request_id = request_id
        self.check_name = True
        self.resolved = False
        self.report = PolicyReport()
        self.catalog = TierCatalog.load()
        self.tiers = self.catalog.by_slug
        self.class_names = self.catalog.by_priority_class

    def run(self) -> PolicyReport:
        if self.kind not in SECTIONS:
            self.report.error("kind", f"Unknown kind {self.kind!r}; choose one of {', '.join(SECTIONS)}.", "invalid")
            return self.report
        if not isinstance(self.raw, dict):
            self.report.error("proposed_spec", "Must be an object with the sections to change.", "invalid")
            return self.report
        allowed = SECTIONS[self.kind]
        for key in self.raw:
            if key not in allowed:
                self.report.error(
                    key,
                    f"A {Kind(self.kind).label.lower()} request cannot change {key}; it may propose "
                    f"{', '.join(allowed)}.",
                    "not_allowed",
                )
        self.check_target()
        # A request is a merge patch over the namespace's spec: resolve it once, check the result.
        current = namespace_spec(self.namespace) if self.namespace else {}
        proposed = {key: value for key, value in self.raw.items() if key in allowed}
        if not self.resolved:
            resolution = resolve_proposal(self.kind, current, proposed)
            for field_name, message in resolution.errors:
                self.report.error(field_name, message, "nothing_to_remove")
            proposed = resolution.spec
        self.report.proposed = proposed
        if self.kind == Kind.DELETE_NAMESPACE:
            self.check_force(proposed)
            return self.report
        if self.kind == Kind.CREATE_NAMESPACE:
            for key in ("tier", "quotas"):
                if key not in proposed:
                    self.report.error(key, "This field is required.", "required")
        if self.kind == Kind.CHANGE_TIER and "tier" not in proposed:
            self.report.error("tier", "This field is required.", "required")
        if "tier" in proposed:
            self.check_tier(proposed["tier"])
        if "labels" in proposed:
            self.check_labels(proposed["labels"])
        if "quotas" in proposed:
            proposed["quotas"] = self.check_quotas(proposed["quotas"])
        elif self.kind == Kind.CHANGE_QUOTA:
            self.report.error("quotas", "This field is required.", "required")
        if "limitRange" in proposed:
            proposed["limitRange"] = self.check_limit_range(proposed["limitRange"])
        elif self.kind == Kind.CHANGE_LIMIT_RANGE:
            self.report.error("limitRange", "This field is required.", "required")
        self.check_gpu_resources_of(current, proposed)
        if self.report.is_valid:
            self.check_whole_spec(proposed)
            self.check_changes(current, proposed)
            if self.namespace is not None and self.report.warnings:
                self.report.mark_already(check_namespace_spec(team=self.team, spec=current))
        return self.report

    def check_changes(self, current: dict, proposed: dict) -> None:
        """A change request must change something; a tier change, the tier."""
        if not self.report.is_valid:
            return
        self.report.changes = spec_changes(current, proposed)
        if self.kind == Kind.CREATE_NAMESPACE:
            return
        if self.kind == Kind.CHANGE_TIER and not any(row["field"] == "tier" for row in self.report.changes):
            message = f"Nothing to change: the namespace is already in the {current['tier']} tier."
            self.report.error("tier", message, "nothing_to_change")
        elif not self.report.changes:
            self.report.error(
                SECTIONS[self.kind][0],
                "Nothing to change: this request leaves the namespace as it is.",
                "nothing_to_change",
            )

    # The namespace the request is about.

    def check_target(self) -> None:
        if self.kind == Kind.CREATE_NAMESPACE:
            if self.check_name:
                self.check_cluster()
                self.check_new_name()
            return
        namespace = self.namespace
        if namespace is None or namespace.deleted_at is not None:
            self.report.error("namespace", "Choose an existing namespace of the team.", "required")
        elif namespace.team_id != self.team.pk:
            self.report.error("namespace", f"{namespace.name} does not belong to team {self.team.slug}.", "invalid")
        elif namespace.deletion_requested_at is not None:
            self.report.error("namespace", f"{namespace.name} is being deleted.", "invalid")

    def check_cluster(self) -> None:
        """A team asks only for the clusters it is allowed (Team.clusters; none chosen: every cluster)."""
        if self.cluster is None:
            known = ", ".join(Cluster.objects.open_to(self.team).values_list("name", flat=True))
            self.report.error("cluster", f"There is no cluster {self.cluster_name!r}; choose {known}.", "invalid")
        elif not Cluster.objects.open_to(self.team).filter(pk=self.cluster.pk).exists():
            allowed = ", ".join(Cluster.objects.open_to(self.team).values_list("name", flat=True))
            self.report.error(
                "cluster",
                f"Team {self.team.slug} cannot ask for namespaces on {self.cluster.name}; choose {allowed}.",
                "not_allowed",
            )

    def check_force(self, proposed: dict) -> None:
        if not isinstance(proposed.get("force", False), bool):
            self.report.error("force", "Must be true or false.", "invalid")

    def parse(self, field_name: str, value: object) -> Quantity | None:
        try:
            return parse_quantity(value)
        except QuantityError as error:
            self.report.error(field_name, f"Not a valid quantity: {error}.", "invalid_quantity")
            return None
