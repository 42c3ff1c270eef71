"""The Dockerfile: no container engine can build it on these machines, so it is linted, and what it shares
with the manifests (the user id, what the build context leaves out) is checked against them."""

import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.conftest import Render, pod_templates
from tests.kube import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def test_hadolint_finds_nothing() -> None:
    hadolint = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (hadolint.returncode, hadolint.stdout + hadolint.stderr) == (0, "")


def test_the_image_user_is_the_one_the_pods_run_as(render: Render) -> None:
    instructions = DOCKERFILE.read_text()
    (user,) = re.findall(r"^USER (\d+):(\d+)$", instructions, flags=re.MULTILINE)
    created = re.search(r"groupadd --system --gid (\d+) .*useradd --system --uid (\d+)", instructions, flags=re.S)

    assert created.groups() == (user[1], user[0])
    for spec in pod_templates(render("production")).values():
        assert (str(spec["securityContext"]["runAsUser"]), str(spec["securityContext"]["runAsGroup"])) == user
    assert "HEALTHCHECK" not in instructions  # the kubelet's probes check the pods


def test_the_build_context_leaves_out_credentials_and_local_state() -> None:
    """.cluster holds the local cluster's admin kubeconfig; .venv and var are this machine's."""
    ignored = set((REPO_ROOT / ".dockerignore").read_text().splitlines())

    assert {".git", ".venv", ".cluster", "var", "tests"} <= ignored
