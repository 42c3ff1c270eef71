"""Reading docs/operations.md and the portal's source, for the tests that keep the guide true.

The guide is Markdown written for people; these helpers take from it only what a test compares with
the code: the sections (by `## ` heading), the first column of their tables, and their fenced shell
blocks. The source is read as Python syntax trees, never imported, so a variable or a log line in a
module no test imports is found as well.
"""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.kube import REPO_ROOT

GUIDE = REPO_ROOT / "docs" / "operations.md"
README = REPO_ROOT / "README.md"
#: A name in backticks in a table's first cell: `DATABASE_URL`, `request.retrying`.
_CODE = re.compile(r"`([^`]+)`")


def portal_sources() -> list[Path]:
    """The portal's Python modules: manage.py and every top-level package but the tests."""
    packages = [path.parent for path in REPO_ROOT.glob("*/__init__.py") if path.parent.name != "tests"]
    return [REPO_ROOT / "manage.py", *sorted(module for package in packages for module in package.rglob("*.py"))]


def section(text: str, title: str) -> str:
    """The body of the `## title` section (its `###` subsections included), up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no section '## {title}'"
    return match.group(1)


def tables(text: str) -> Iterator[tuple[list[str], list[list[str]]]]:
    """Each Markdown table in `text`: its header cells and its rows' cells."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("|") and index + 1 < len(lines) and lines[index + 1].startswith("| ---"):
            header = _cells(lines[index])
            index += 2
            rows = []
            while index < len(lines) and lines[index].startswith("|"):
                rows.append(_cells(lines[index]))
                index += 1
            yield header, rows
        else:
            index += 1


def first_column_names(text: str, header: str) -> list[str]:
    """The names in backticks in the first column of every table whose first header cell is `header`."""
    return [
        name for cells, rows in tables(text) if cells[0] == header for row in rows for name in _CODE.findall(row[0])
    ]


def shell_blocks(text: str) -> list[str]:
    """The fenced ```sh blocks of `text`."""
    return re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _cells(line: str) -> list[str]:
    # A `|` inside backticks is part of a value (`redis|amqp`), not a column break.
    parts, current, in_code = [], "", False
    for character in line.strip().strip("|"):
        if character == "`":
            in_code = not in_code
        if character == "|" and not in_code:
            parts.append(current.strip())
            current = ""
        else:
            current += character
    parts.append(current.strip())
    return parts


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))
