import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from provisioning.adoption import read_existing_spec
from provisioning.cluster import ClusterError
from provisioning.models import Cluster
from teams import events
from teams.events import system_actor
from teams.models import GpuTier, Team, TeamNamespace
from teams.policy import check_namespace_spec


class Command(BaseCommand):
    help = (
        "Adopt a namespace that exists on the cluster but was not created by the portal: import its "
        "ResourceQuotas and LimitRange as desired state, after showing them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--team", required=True, help="Slug of the team that will own it.")
        parser.add_argument("--tier", help="GPU tier slug; the team's default tier if omitted.")
        parser.add_argument("--yes", action="store_true", help="Adopt without asking for confirmation.")

    def handle(self, *args, name: str, team: str, tier: str | None, yes: bool, **options) -> None:
        owner = Team.objects.filter(slug=team).select_related("default_tier").first()
        if owner is None:
            raise CommandError(f"No team {team!r}.")
        chosen_tier = GpuTier.objects.filter(slug=tier).first() if tier else owner.default_tier
        if chosen_tier is None:
            raise CommandError(f"No tier {tier!r}.")
        if TeamNamespace.objects.live().filter(name=name).exists():
            raise CommandError(f"The portal already manages {name}.")
        try:
            spec = read_existing_spec(Cluster.objects.get_default(), name)
        except ClusterError as error:
            raise CommandError(str(error)) from error
        spec["tier"] = chosen_tier.slug
        report = check_namespace_spec(team=owner, spec=spec)
        self.stdout.write(f"{name} on the cluster today (becomes its desired state):")
        self.stdout.write(json.dumps({"quotas": spec["quotas"], "limitRange": spec["limitRange"]}, indent=2))
        for finding in report.warnings:
            self.stdout.write(f"warning: {finding.field}: {finding.message}")
        if not report.is_valid:
            for finding in report.errors:
                self.stderr.write(f"error: {finding.field}: {finding.message}")
            raise CommandError("Fix these on the cluster (or adopt, then change them by request) before adopting.")
        if not yes and input(f"Adopt {name} for team {owner.slug}? [y/N] ").strip().lower() != "y":
            raise CommandError("Not adopted.")
        with transaction.atomic():
            namespace = TeamNamespace.objects.create(
                name=name,
                team=owner,
                tier=chosen_tier,
                quotas=report.proposed["quotas"],
                limit_range=report.proposed.get("limitRange") or {},
                adopted_at=timezone.now(),
            )
            events.record(
                "namespace.adopted",
                actor=system_actor(),
                target=f"namespace:{name}",
                after={"team": owner.slug, **spec},
            )
        self.stdout.write(f"{namespace.name} adopted by {owner.slug}; `apply_namespace {name}` labels it as managed.")
