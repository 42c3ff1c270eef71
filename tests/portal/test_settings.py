"""Settings come from the environment; a production start without a secret key is refused."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

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
    environment = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SECRET_KEY")}
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
    assert _start(DEBUG="0", SECRET_KEY="a-real-secret").stdout.strip() == "False"
    assert _start(DEBUG="1").stdout.strip() == "True"


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
