"""Single sign-on is configured from the environment only: off by default, refused at start-up when half set."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT_FORM_ACTION = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.OIDC_ENABLED, settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])"
)


def start(**overrides: str) -> subprocess.CompletedProcess:
    """A fresh Python process loading the portal's settings from this environment, less OIDC_*, and `overrides`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OIDC_")}
    environment.update({"DEBUG": "1", "DJANGO_SETTINGS_MODULE": "portal.settings", **overrides})
    return subprocess.run(
        [sys.executable, "-c", PRINT_FORM_ACTION], cwd=ROOT, env=environment, capture_output=True, text=True
    )


def test_it_is_off_by_default():
    started = start()

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "False [\"'self'\"]"


def test_turned_on_without_a_client_secret_the_portal_refuses_to_start_naming_it():
    started = start(OIDC_ENABLED="1", OIDC_ISSUER="https://id.example.com/realms/ml", OIDC_CLIENT_ID="gpu-portal")

    assert started.returncode != 0
    assert "The environment variable OIDC_CLIENT_SECRET is required." in started.stderr


def test_turned_on_the_sign_out_may_redirect_to_the_provider():
    started = start(
        OIDC_ENABLED="1",
        OIDC_ISSUER="https://id.example.com/realms/ml",
        OIDC_CLIENT_ID="gpu-portal",
        OIDC_CLIENT_SECRET="s3cret",
    )

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "True [\"'self'\", 'https://id.example.com']"
