"""API tokens (a secret shown once, kept only as a hash, found by a short visible prefix) and single sign-on's
identities and group mappings."""

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from teams.roles import TEAM_ROLES, Role

#: Every token starts with this, so that secret scanners and people can tell what it is.
TOKEN_MARK = "gqp"
PREFIX_BYTES = 6
SECRET_BYTES = 32


def hash_key(key: str) -> str:
    """sha256 of the whole key: the secret is 256 random bits, so no salt or stretching is needed."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """(prefix, key): `gqp_<prefix>_<secret>`; the prefix is stored in clear for lookup."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{TOKEN_MARK}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def prefix_of(key: str) -> str | None:
    mark, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if mark != TOKEN_MARK or len(prefix) != PREFIX_BYTES * 2 or not secret:
        return None
    return prefix


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ApiTokenQuerySet":
        """Everyone sees their own tokens only, approvers included."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user)


class ApiToken(models.Model):
    """One person's key for the REST API, read-only or read-write, optionally expiring."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'monthly finance export'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    read_only = models.BooleanField(default=True, help_text="Read-only tokens can read but never change anything.")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_MARK}_{self.prefix}…)"

    @property
    def display_prefix(self) -> str:
        return f"{TOKEN_MARK}_{self.prefix}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def matches(self, key: str) -> bool:
        return secrets.compare_digest(self.key_hash, hash_key(key))


class ProviderIdentityQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ProviderIdentityQuerySet":
        """Everyone sees their own (the groups the provider sent them); admins see all in the admin."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user)


class ProviderIdentity(models.Model):
    """Who a person is at the identity provider: its issuer and subject, which never change, never the e-mail.

    An e-mail change at the provider updates this row's user; another subject with the same e-mail is another
    person, with an account of their own.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    email = models.EmailField(blank=True, help_text="As the provider last sent it.")
    groups = models.JSONField(default=list, blank=True, help_text="The provider's groups at the last sign-in.")
    #: The platform roles' Django groups that the provider's groups granted, so that they alone are taken back.
    granted_groups = models.JSONField(default=list, blank=True, editable=False)
    #: Whether the provider's approver mapping made the user staff (an approver must be), to undo only that.
    granted_staff = models.BooleanField(default=False, editable=False)
    #: The provider's refresh token, encrypted with a key derived from SECRET_KEY (accounts.provider.seal).
    refresh_token = models.TextField(blank=True, editable=False)
    confirmed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider last confirmed the person: a sign-in or a token refresh."
    )
    refused_at = models.DateTimeField(
        null=True, blank=True, help_text="When the provider refused the person; API tokens stop until they sign in."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProviderIdentityQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="provider_identity_unique_subject")]
        ordering = ["issuer", "subject"]
        verbose_name = "identity-provider account"

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


class GroupMapping(models.Model):
    """One identity-provider group -> a team role (lead or member) in a team, or a platform role (approver, finance).

    Applied at every sign-in through the provider (accounts.group_mapping).
    """

    provider_group = models.CharField(max_length=255, help_text="The group's name exactly as the provider sends it.")
    role = models.CharField(max_length=16, choices=Role.choices)
    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="group_mappings",
        help_text="The team, for lead and member; empty for approver and finance, which hold across the portal.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(role__in=TEAM_ROLES, team__isnull=False))
                | (models.Q(team__isnull=True) & ~models.Q(role__in=TEAM_ROLES)),
                name="group_mapping_team_for_team_roles_only",
            ),
            models.UniqueConstraint(
                fields=["provider_group", "team"],
                condition=models.Q(team__isnull=False),
                name="group_mapping_one_role_per_team",
            ),
            models.UniqueConstraint(
                fields=["provider_group", "role"],
                condition=models.Q(team__isnull=True),
                name="group_mapping_unique_platform_role",
            ),
        ]
        ordering = ["provider_group", "role"]
        verbose_name = "identity-provider group mapping"

    def __str__(self) -> str:
        where = f" of {self.team.slug}" if self.team_id else ""
        return f"{self.provider_group} -> {self.get_role_display()}{where}"

    def clean(self) -> None:
        if self.role in TEAM_ROLES and self.team_id is None:  # the database's check, said with the field's name
            raise ValidationError({"team": f"Choose the team this group makes {self.get_role_display().lower()}s of."})
        if self.role not in TEAM_ROLES and self.team_id is not None:
            raise ValidationError({"team": f"{self.get_role_display()} holds across the portal: leave the team empty."})
