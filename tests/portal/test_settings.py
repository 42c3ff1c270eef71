"""Settings come from the environment; a production start without a secret key is refused."""

import os
import subprocess
import sys
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
    environment = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SECRET_KEY")}
    environment.update(overrides)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
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
