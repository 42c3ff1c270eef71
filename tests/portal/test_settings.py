"""Settings come from the environment; a production start without a secret key is refused."""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from portal import env

ROOT = Path(__file__).resolve().parents[2]


def test_a_required_variable_that_is_missing_names_itself(monkeypatch):
    monkeypatch.delenv("PORTAL_TEST_VALUE", raising=False)

    with pytest.raises(ImproperlyConfigured, match=r"The environment variable PORTAL_TEST_VALUE is required\."):
        env.get_str("PORTAL_TEST_VALUE")


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("off", False), ("0", False)])
def test_booleans_are_read_strictly(monkeypatch, raw, expected):
    monkeypatch.setenv("PORTAL_TEST_FLAG", raw)

    assert env.get_bool("PORTAL_TEST_FLAG", default=not expected) is expected


def test_a_boolean_that_is_not_one_is_refused(monkeypatch):
    monkeypatch.setenv("PORTAL_TEST_FLAG", "maybe")

    with pytest.raises(ImproperlyConfigured, match="PORTAL_TEST_FLAG must be a boolean"):
        env.get_bool("PORTAL_TEST_FLAG", default=False)


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("PORTAL_TEST_HOSTS", "portal.example.com, ,127.0.0.1")

    assert env.get_list("PORTAL_TEST_HOSTS", []) == ["portal.example.com", "127.0.0.1"]


def _start(**overrides: str) -> subprocess.CompletedProcess:
    return _run("import django; django.setup(); from django.conf import settings; print(settings.DEBUG)", **overrides)


def _run(program: str, **overrides: str) -> subprocess.CompletedProcess:
    """A fresh Python process loading the portal's settings from this environment and `overrides`."""
    # DJANGO_ALLOW_ASYNC_UNSAFE is the browser tests' (tests/e2e/conftest.py), never a deployment's.
    ignored = ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environment = {key: value for key, value in os.environ.items() if key not in ignored}
    environment.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _start(DEBUG="0")

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off." in result.stderr


def test_production_starts_with_a_secret_key_and_debug_generates_one():
    assert _start(DEBUG="0", SECRET_KEY=get_random_secret_key()).stdout.strip() == "False"
    assert _start(DEBUG="1").stdout.strip() == "True"


@pytest.mark.parametrize(
    ("secret_key", "message"),
    [
        ("a-real-secret", "SECRET_KEY must have at least 50 characters, at least 5 of them different"),
        (get_random_secret_key()[:49], "SECRET_KEY must have at least 50 characters, at least 5 of them different"),
        ("abcd" * 20, "SECRET_KEY must have at least 50 characters, at least 5 of them different"),
        ("gpu-portal-demo", "SECRET_KEY is a published example value; generate a key of your own."),
        ("benchmark-only-secret", "SECRET_KEY is a published example value; generate a key of your own."),
        ("django-insecure-" + "k" * 10 + get_random_secret_key(), "SECRET_KEY is a published example value"),
    ],
)
def test_production_refuses_to_start_with_a_weak_or_published_secret_key(secret_key, message):
    """Refused at start-up with ImproperlyConfigured, not a check warning a deployment could ignore."""
    result = _start(DEBUG="0", SECRET_KEY=secret_key)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: " + message in result.stderr
    assert result.stdout == ""


def test_debug_still_accepts_any_secret_key():
    """make demo and the tests run under DEBUG, with a short key or none."""
    assert _start(DEBUG="1", SECRET_KEY="short").stdout.strip() == "True"


def _production(**overrides: str) -> dict[str, str]:
    return {"DEBUG": "0", "SECRET_KEY": get_random_secret_key(), "ALLOWED_HOSTS": "portal.example.com", **overrides}


def test_check_deploy_reports_nothing_with_production_settings():
    result = _run_manage(["check", "--deploy", "--fail-level", "WARNING"], **_production())

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr
    assert "?: (" not in result.stderr


def test_a_plain_http_lab_turns_https_off_and_check_deploy_says_so():
    """HSTS, the HTTPS redirect and secure cookies can be turned off, and the deploy check names each."""
    lab = _production(SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="0", SECURE_COOKIES="0")

    result = _run_manage(["check", "--deploy"], **lab)

    assert result.returncode == 0
    reported = sorted(set(re.findall(r"\(security\.(W\d+)\)", result.stderr + result.stdout)))
    assert reported == ["W004", "W008", "W012", "W016"]


def test_production_settings_are_https_only_and_the_proxy_header_is_trusted_only_when_told():
    program = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)"
    )

    assert _run(program, **_production()).stdout.split() == ["True", "True", "True", "31536000", "True", "True", "None"]
    behind_proxy = _run(
        program, **_production(TRUST_PROXY_HEADERS="1", SECURE_HSTS_PRELOAD="0", SECURE_HSTS_SECONDS="600")
    )
    assert behind_proxy.stdout.strip() == "True True True 600 True False ('HTTP_X_FORWARDED_PROTO', 'https')"
    assert _run(program, DEBUG="1").stdout.split() == ["False", "False", "False", "0", "True", "True", "None"]


def test_sign_in_throttling_reads_its_limit_and_lock_from_the_environment():
    program = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    )

    assert _run(program, DEBUG="1").stdout.strip() == "5 0:15:00"
    assert _run(program, DEBUG="1", SIGNIN_FAILURE_LIMIT="8", SIGNIN_LOCKOUT_MINUTES="60").stdout.strip() == "8 1:00:00"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SIGNIN_FAILURE_LIMIT", "0", "SIGNIN_FAILURE_LIMIT must be at least 1, not 0."),
        ("SIGNIN_LOCKOUT_MINUTES", "0", "SIGNIN_LOCKOUT_MINUTES must be at least 1, not 0."),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS must be at least 0, not -1."),
    ],
)
def test_a_limit_that_would_disable_its_protection_is_refused(variable, value, message):
    result = _start(DEBUG="1", **{variable: value})

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: " + message in result.stderr


def _run_manage(arguments: list[str], **overrides: str) -> subprocess.CompletedProcess:
    """`manage.py` with `arguments` in a fresh process, as `_run` runs a program."""
    program = f"from django.core.management import execute_from_command_line as run; run({['manage.py', *arguments]!r})"
    return _run(program, **overrides)


def test_time_zone_is_utc(settings):
    assert settings.TIME_ZONE == "UTC"
    assert settings.USE_TZ is True


def test_a_cache_url_names_locmem_or_redis_and_anything_else_is_refused(monkeypatch):
    monkeypatch.setenv("PORTAL_TEST_CACHE", "memcached://127.0.0.1:11211")

    with pytest.raises(ImproperlyConfigured, match="PORTAL_TEST_CACHE must be locmem:// or a redis:// URL"):
        env.get_cache("PORTAL_TEST_CACHE", "locmem://")
    assert env.get_cache("PORTAL_TEST_UNSET", "locmem://")["BACKEND"].endswith("LocMemCache")


def test_with_a_redis_cache_url_every_process_counts_in_the_same_cache():
    """What the API token throttle needs when several web processes serve the portal."""
    key = f"portal-test-{uuid.uuid4().hex}"
    url = "redis://127.0.0.1:6379/13"

    def run(code: str, cache_url: str) -> str:
        program = f"import django; django.setup(); from django.core.cache import cache; {code}"
        return _run(program, DEBUG="1", CACHE_URL=cache_url).stdout.strip()

    run(f"cache.set({key!r}, 'seen', 60)", url)

    assert run(f"print(cache.get({key!r}))", url) == "seen"
    assert run(f"print(cache.get({key!r}))", "locmem://") == "None"


def test_logs_are_json_in_production_and_plain_under_debug_unless_told():
    program = "import django; django.setup(); from django.conf import settings as s; print(s.LOG_FORMAT)"

    assert _run(program, **_production()).stdout.strip() == "json"
    assert _run(program, DEBUG="1").stdout.strip() == "plain"
    refused = _start(DEBUG="1", LOG_FORMAT="xml")
    assert "ImproperlyConfigured: LOG_FORMAT must be one of plain, json, not 'xml'." in refused.stderr


def test_a_visibility_timeout_shorter_than_the_longest_retry_countdown_is_refused():
    """A retry waits out its countdown in a worker, unacknowledged: Redis would deliver it a second time."""
    redis = {"DEBUG": "1", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/7"}

    refused = _start(**redis, CELERY_VISIBILITY_TIMEOUT="60", PROVISIONING_RETRY_BACKOFF_MAX_SECONDS="60")
    accepted = _start(**redis, CELERY_VISIBILITY_TIMEOUT="61", PROVISIONING_RETRY_BACKOFF_MAX_SECONDS="60")

    assert (
        "ImproperlyConfigured: CELERY_VISIBILITY_TIMEOUT must be longer than the longest retry countdown, "
        "PROVISIONING_RETRY_BACKOFF_MAX_SECONDS (60 s)." in refused.stderr
    )
    assert accepted.stdout.strip() == "True"
