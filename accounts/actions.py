"""The one write path for API tokens; each act is recorded in the audit trail."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken, hash_key, new_key
from teams import events

logger = logging.getLogger(__name__)


def create_api_token(*, user, name: str, read_only: bool, expires_at: datetime | None) -> tuple[ApiToken, str]:
    """Create a token and return it with its key, which is never stored and cannot be shown again."""
    for _ in range(5):
        prefix, key = new_key()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name.strip(),
                    prefix=prefix,
                    key_hash=hash_key(key),
                    read_only=read_only,
                    expires_at=expires_at,
                )
                _audit(user, "token.created", token, {}, _describe(token))
        except IntegrityError:
            continue  # a prefix collision: 48 random bits make it rare, so try another
        logger.info("token.created", extra={"user": user.get_username(), "token": token.prefix})
        return token, key
    raise RuntimeError("Could not find a free token prefix.")


def revoke_api_token(token: ApiToken, *, actor) -> ApiToken:
    """Revoke at once; a revoked token is refused with 401 from the next request on."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        token.refresh_from_db()
        if updated:
            _audit(actor, "token.revoked", token, _describe(token, revoked=False), _describe(token))
    if updated:
        logger.info("token.revoked", extra={"user": token.user.get_username(), "token": token.prefix})
    return token


def _describe(token: ApiToken, *, revoked: bool | None = None) -> dict:
    return {
        "token": token.display_prefix,
        "name": token.name,
        "read_only": token.read_only,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked": token.revoked_at is not None if revoked is None else revoked,
    }


def _audit(actor, verb: str, token: ApiToken, before: dict, after: dict) -> None:
    events.record(verb, actor=actor, target=f"user:{token.user.get_username()}", before=before, after=after)
