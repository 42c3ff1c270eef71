"""The example alert rules are valid Prometheus rules and fire when, and only when, they should."""

import shutil
import subprocess

import pytest

from tests.kube import REPO_ROOT

RULES = REPO_ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool (Debian's prometheus package) is not installed: run `make prometheus`")
    return binary


def test_promtool_accepts_the_alert_rules(promtool):
    result = subprocess.run([promtool, "check", "rules", "alerts.yaml"], cwd=RULES, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_the_alert_rules_pass_their_promtool_unit_tests(promtool):
    """alerts.test.yaml feeds each alert series over time and names the alerts expected at each step."""
    result = subprocess.run([promtool, "test", "rules", "alerts.test.yaml"], cwd=RULES, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
