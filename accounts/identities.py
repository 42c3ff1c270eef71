"""People who sign in through the identity provider: found by issuer and subject, confirmed, or refused.

The provider's word on a person is good for OIDC_PROVIDER_CHECK_SECONDS: a sign-in or a session renewal confirms it,
and an API token used after that asks the provider again with the person's refresh token. A refusal (the provider
deactivated them, or revoked their grant) stops their API tokens until they sign in again.
"""

import hashlib
import logging
import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.utils import timezone
from django.utils.timesince import timesince

from accounts import provider
from accounts.group_mapping import apply_groups
from accounts.models import ProviderIdentity
from teams import events

logger = logging.getLogger(__name__)

#: What Django's default username validator accepts; anything else in a claim becomes "-".
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
USERNAME_MAX_LENGTH = 150


class SignInRefused(Exception):
    """The provider vouched for the person, but says they may not sign in (its `active` claim is false)."""


def claimed_groups(claims: dict) -> list[str]:
    """The groups claim as a list of names; a provider that sends one group as a string is read the same."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def sign_in(*, issuer: str, claims: dict, refresh_token: str) -> "ProviderIdentity":
    """The person the provider vouched for: found by (issuer, subject), else created; then their roles applied.

    Never matched by e-mail: an e-mail change at the provider keeps the account, and another subject with the same
    e-mail gets an account of its own rather than this one.
    """
    subject = str(claims["sub"])
    now = timezone.now()
    known = ProviderIdentity.objects.select_for_update().select_related("user").filter(issuer=issuer, subject=subject)
    if settings.OIDC_ACTIVE_CLAIM and claims.get(settings.OIDC_ACTIVE_CLAIM) is False:
        with transaction.atomic():
            identity = known.first()
            if identity is not None:
                _refuse(identity, "the provider's active claim is false")
        raise SignInRefused(subject)
    with transaction.atomic():
        identity = known.first()
        if identity is None:
            identity = _create(issuer, subject, claims)
        _update_user(identity.user, claims)
        identity.email = claims.get("email") or ""
        identity.groups = claimed_groups(claims)
        identity.confirmed_at = now
        identity.refused_at = None
        if refresh_token:
            identity.refresh_token = provider.seal(refresh_token)
        identity.save()
        apply_groups(identity, identity.groups)
    logger.info("sso.signed_in", extra={"user": identity.user.get_username(), "subject": subject})
    return identity


def _create(issuer: str, subject: str, claims: dict) -> ProviderIdentity:
    user = get_user_model().objects.create_user(_free_username(issuer, subject, claims))
    identity = ProviderIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    events.record(
        "user.created",
        actor=events.system_actor(),
        target=f"user:{user.get_username()}",
        after={"issuer": issuer, "subject": subject, "email": claims.get("email") or ""},
    )
    return identity


def _free_username(issuer: str, subject: str, claims: dict) -> str:
    """The username claim as the account's name; if someone already has it, that name with a mark of the subject.

    A local account (or another provider's person) of the same name is never taken over.
    """
    wanted = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email") or subject)
    base = _USERNAME_UNSAFE.sub("-", wanted)[: USERNAME_MAX_LENGTH - 13] or "user"
    mark = hashlib.sha256(f"{issuer} {subject}".encode()).hexdigest()
    users = get_user_model().objects
    for candidate in (base, f"{base}-{mark[:6]}", f"{base}-{mark[:12]}"):
        if not users.filter(username__iexact=candidate).exists():
            return candidate
    raise ValueError(f"No free username for subject {subject!r}.")


def _update_user(user, claims: dict) -> None:
    """Name and e-mail follow the provider; the username stays what it was, since audit rows name it."""
    values = {
        "email": claims.get("email") or "",
        "first_name": str(claims.get("given_name") or "")[:150],
        "last_name": str(claims.get("family_name") or "")[:150],
    }
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        user.save(update_fields=changed)


def _refuse(identity: ProviderIdentity, reason: str) -> None:
    """Record the provider's refusal once: the person's API tokens stop from now on."""
    if identity.refused_at is not None:
        return
    identity.refused_at = timezone.now()
    identity.refresh_token = ""
    identity.save(update_fields=["refused_at", "refresh_token"])
    events.record(
        "user.refused_by_provider",
        actor=events.system_actor(),
        target=f"user:{identity.user.get_username()}",
        after={"reason": reason},
    )
    logger.warning("sso.refused", extra={"user": identity.user.get_username(), "reason": reason})


def identity_of(user) -> ProviderIdentity | None:
    try:
        return user.provider_identity
    except ObjectDoesNotExist:
        return None


def api_token_refusal(user) -> str | None:
    """Why `user`'s API tokens must be refused because of the provider, or None if they may be used.

    Only people who sign in through the provider are concerned; local accounts' tokens follow their own rules.
    """
    identity = identity_of(user)
    if identity is None:
        return None
    name = provider.provider_name()
    if identity.refused_at is not None:
        return f"{name} no longer accepts this account; its API tokens work again once you sign in to the portal."
    if _is_fresh(identity):
        return None
    if not (provider.is_enabled() and identity.refresh_token):
        return _stale(identity, name)
    with transaction.atomic():
        # One refresh per person at a time: a provider that rotates refresh tokens refuses the second use of one.
        identity = ProviderIdentity.objects.select_for_update().select_related("user").get(pk=identity.pk)
        if identity.refused_at is None and _is_fresh(identity):
            return None
        token = provider.unseal(identity.refresh_token)
        if not token or identity.refused_at is not None:
            return _stale(identity, name)
        try:
            answer = provider.refresh(token)
        except provider.ProviderRefused as refusal:
            _refuse(identity, f"the token endpoint refused the refresh token: {refusal}")
            return f"{name} no longer accepts this account; its API tokens work again once you sign in to the portal."
        except provider.ProviderUnavailable:
            logger.warning("sso.check_unavailable", extra={"user": identity.user.get_username()})
            return f"{name} could not be reached to confirm this account; try again shortly."
        identity.confirmed_at = timezone.now()
        identity.refresh_token = provider.seal(answer.get("refresh_token") or token)
        identity.save(update_fields=["confirmed_at", "refresh_token"])
    return None


def _is_fresh(identity: ProviderIdentity) -> bool:
    window = timedelta(seconds=settings.OIDC_PROVIDER_CHECK_SECONDS)
    return identity.confirmed_at is not None and timezone.now() - identity.confirmed_at < window


def _stale(identity: ProviderIdentity, name: str) -> str:
    ago = f" {timesince(identity.confirmed_at)} ago" if identity.confirmed_at else ""
    return f"{name} last confirmed this account{ago}; sign in to the portal again to keep its API tokens working."
