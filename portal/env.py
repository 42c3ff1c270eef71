"""Typed access to the environment, the only source of deployment settings.

Every setting that differs between a laptop and production is read here, so that a
missing required value fails at start-up with the variable's name rather than later.
"""

import os

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def get_str(name: str, default: str | None = None) -> str:
    """Return the variable, or `default`; raise if it is required (no default) and unset."""
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"The environment variable {name} is required.")
        return default
    return value


def get_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), not {value!r}.")


def get_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}.")
    return number


def get_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = get_str(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return value


def get_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated list; blanks are dropped."""
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def get_cache(name: str, default: str) -> dict:
    """A CACHES entry from a URL: `locmem://` (each process its own) or `redis://host:port/db` (shared)."""
    value = get_str(name, default)
    scheme = value.partition("://")[0]
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    if scheme in ("redis", "rediss"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": value}
    raise ImproperlyConfigured(f"{name} must be locmem:// or a redis:// URL, not {value!r}.")


# Values published with the portal or with Django (README, the demo, benchmarks): a key anyone can read signs
# anyone's session. Django's own start-up template keys begin with SECRET_KEY_INSECURE_PREFIX.
KNOWN_EXAMPLE_SECRET_KEYS = frozenset({"gpu-portal-demo", "benchmark-only-secret", "change-me", "changeme", "secret"})


def get_secret_key(name: str) -> str:
    """The production secret key: refused at start-up when missing, guessable, or a published example.

    The same bounds as Django's `check --deploy` (security.W009), but an error rather than a warning.
    """
    try:
        value = get_str(name)
    except ImproperlyConfigured:
        raise ImproperlyConfigured(f"{name} is required when DEBUG is off.") from None
    if value in KNOWN_EXAMPLE_SECRET_KEYS or value.startswith(SECRET_KEY_INSECURE_PREFIX):
        raise ImproperlyConfigured(f"{name} is a published example value; generate a key of your own.")
    if len(value) < SECRET_KEY_MIN_LENGTH or len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        raise ImproperlyConfigured(
            f"{name} must have at least {SECRET_KEY_MIN_LENGTH} characters, at least "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different; generate one with "
            '`python -c "from django.core.management.utils import get_random_secret_key as k; print(k())"`.'
        )
    return value
