import json

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from provisioning.adoption import read_existing_spec
from provisioning.cluster import ClusterError
from teams import workflow
from teams.models import Cluster, GpuTier, Team, TeamNamespace
from teams.policy import PolicyError


class Command(BaseCommand):
    help = (
        "Adopt a namespace that exists on the cluster but was not created by the portal: after showing its "
        "ResourceQuotas and LimitRange, an approver's adopt request makes them its desired state (audited, "
        "policy-checked), and provisioning applies it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--team", required=True, help="Slug of the team that will own it.")
        parser.add_argument("--actor", required=True, help="Username of the approver who adopts it (audited).")
        parser.add_argument("--tier", help="GPU tier slug; the team's default tier if omitted.")
        parser.add_argument("--cluster", help="The cluster it is on; default: the default cluster.")
        parser.add_argument("--yes", action="store_true", help="Adopt without asking for confirmation.")

    def handle(
        self, *args, name: str, team: str, actor: str, tier: str | None, cluster: str | None, yes: bool, **options
    ) -> None:
        where = Cluster.objects.filter(name=cluster).first() if cluster else Cluster.objects.get_default()
        if where is None:
            raise CommandError(f"No cluster {cluster!r}.")
        owner = Team.objects.filter(slug=team).select_related("default_tier").first()
        if owner is None:
            raise CommandError(f"No team {team!r}.")
        chosen_tier = GpuTier.objects.filter(slug=tier).first() if tier else owner.default_tier
        if chosen_tier is None:
            raise CommandError(f"No tier {tier!r}.")
        adopter = get_user_model().objects.filter(username=actor).first()
        if adopter is None:
            raise CommandError(f"No user {actor!r}.")
        if TeamNamespace.objects.live().filter(cluster=where, name=name).exists():
            raise CommandError(f"The portal already manages {name} on {where}.")
        try:
            observed = read_existing_spec(where, name)
        except ClusterError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{name} on the cluster today (becomes its desired state):")
        self.stdout.write(json.dumps({"quotas": observed["quotas"], "limitRange": observed["limitRange"]}, indent=2))
        if not yes and input(f"Adopt {name} for team {owner.slug}? [y/N] ").strip().lower() != "y":
            raise CommandError("Not adopted.")
        try:
            request = workflow.adopt_namespace(
                actor=adopter, team=owner, tier=chosen_tier, name=name, observed=observed, cluster=where
            )
        except PolicyError as error:
            for finding in error.report.errors:
                self.stderr.write(f"error: {finding.field}: {finding.message}")
            raise CommandError(
                "Fix these on the cluster (or adopt, then change them by request) before adopting."
            ) from error
        except (PermissionDenied, ValidationError) as error:
            raise CommandError(_describe(error)) from error
        for warning in request.warnings:
            self.stdout.write(f"warning: {warning['field']}: {warning['message']}")
        self.stdout.write(
            f"{name} adopted by {owner.slug} (request #{request.pk}, approved); provisioning applies it, "
            f"or `apply_namespace {name}` now."
        )


def _describe(error: Exception) -> str:
    return "; ".join(error.messages) if isinstance(error, ValidationError) else str(error)
