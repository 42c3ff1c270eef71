"""API tokens: a secret shown once, kept only as a hash, found by a short visible prefix."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

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
