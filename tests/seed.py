"""The seed tutorial's manifests, as the tests compare the portal against them."""

import copy
import re
from functools import cache
from pathlib import Path

import yaml

FIXTURE = Path(__file__).with_name("fixtures") / "seed_manifests.yaml"
TUTORIAL = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_f59c491ff6007589.txt"


@cache
def _documents() -> tuple[dict, ...]:
    return tuple(doc for doc in yaml.safe_load_all(FIXTURE.read_text()) if doc)


def seed_documents() -> list[dict]:
    return copy.deepcopy(list(_documents()))


def seed_manifest(kind: str, name: str, namespace: str | None = None) -> dict:
    """A fresh copy of one seed manifest, moved to `namespace` when given."""
    for document in _documents():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            manifest = copy.deepcopy(document)
            if namespace is not None:
                manifest["metadata"]["namespace"] = namespace
            return manifest
    raise KeyError(f"{kind}/{name} is not in {FIXTURE}")


def parse_tutorial(text: str) -> list[dict]:
    """The YAML documents of the tutorial: each runs from `apiVersion:` until a line of prose."""
    yaml_line = re.compile(r"^(\s|-|#|$|[A-Za-z][\w.-]*:(\s|$))")
    documents, block = [], []
    for line in [*text.splitlines(), "end of text"]:
        if line.startswith("apiVersion:") or (block and yaml_line.match(line)):
            block.append(line)
        elif block:
            documents.extend(doc for doc in yaml.safe_load_all("\n".join(block)) if doc)
            block = []
    return [doc for doc in documents if isinstance(doc, dict) and "kind" in doc]
