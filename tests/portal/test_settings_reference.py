"""The settings reference in docs/operations.md lists exactly the environment variables the portal reads.

A variable added to the code without a row in the guide fails here, and so does a row for a variable
the code no longer reads. The code's reads are found in its syntax: `env.get_*("NAME", ...)` (portal/env.py,
used by the settings and gunicorn's configuration) and direct reads of `os.environ` / `os.getenv`.
`os.environ.setdefault("DJANGO_SETTINGS_MODULE", ...)` is not a setting: it tells Django where the settings
are, and is not counted.
"""

import ast
from collections import Counter
from pathlib import Path

from tests.kube import REPO_ROOT
from tests.portal.guide import GUIDE, README, first_column_names, parse, portal_sources, section

#: What the guide's tables of settings call their first column.
HEADER = "variable"


def variables_read(tree: ast.AST) -> set[str]:
    """Names of the environment variables a module reads, where the name is written in the call."""
    names = set()
    # `environ` alone is os.environ only where the module imported it so (a WSGI environ is not).
    bare = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "os"
        and any(alias.name == "environ" for alias in node.names)
        for node in ast.walk(tree)
    )

    def is_environ(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (bare and isinstance(node, ast.Name) and node.id == "environ")

    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args:
            function = node.func
            is_env_helper = (
                isinstance(function, ast.Attribute)
                and isinstance(function.value, ast.Name)
                and function.value.id == "env"
                and function.attr.startswith("get_")
            )
            is_environ_get = (
                isinstance(function, ast.Attribute) and function.attr == "get" and is_environ(function.value)
            )
            is_getenv = (
                isinstance(function, ast.Attribute)
                and function.attr == "getenv"
                and isinstance(function.value, ast.Name)
                and function.value.id == "os"
            )
            if is_env_helper or is_environ_get or is_getenv:
                name = node.args[0]
        elif isinstance(node, ast.Subscript) and is_environ(node.value):
            name = node.slice
        elif isinstance(node, ast.Compare) and any(is_environ(item) for item in node.comparators):
            name = node.left
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            names.add(name.value)
    return names


def code_variables() -> dict[str, list[Path]]:
    where: dict[str, list[Path]] = {}
    for path in portal_sources():
        for name in variables_read(parse(path)):
            where.setdefault(name, []).append(path)
    return where


def test_the_reader_finds_each_way_of_reading_the_environment():
    tree = ast.parse(
        "import os\nfrom os import environ\n"
        'a = env.get_int("A_INT", 1)\nb = env.get_str("B_STR")\nc = os.environ.get("C_GET")\n'
        'd = os.environ["D_ITEM"]\ne = os.getenv("E_GETENV")\nf = "F_IN" in os.environ\ng = environ.get("G_BARE")\n'
        'os.environ.setdefault("NOT_A_SETTING", "x")\nh = settings.get("NOT_ENV")\n'
    )
    wsgi = ast.parse('def access(environ):\n    return environ.get("HTTP_REFERER")\n')

    assert variables_read(tree) == {"A_INT", "B_STR", "C_GET", "D_ITEM", "E_GETENV", "F_IN", "G_BARE"}
    assert variables_read(wsgi) == set()


def test_the_guide_documents_exactly_the_variables_the_code_reads():
    read = code_variables()
    documented = set(first_column_names(GUIDE.read_text(), HEADER))

    undocumented = {
        name: [str(path.relative_to(REPO_ROOT)) for path in paths]
        for name, paths in read.items()
        if name not in documented
    }
    assert not undocumented, f"read by the code but missing from docs/operations.md's settings tables: {undocumented}"
    assert not documented - set(read), (
        f"documented in docs/operations.md but read nowhere in the code: {sorted(documented - set(read))}"
    )
    # The reader found the settings module's and gunicorn's variables at all.
    assert {"DATABASE_URL", "SECRET_KEY", "WEB_CONCURRENCY", "OIDC_ISSUER"} <= set(read)


def test_each_variable_is_documented_in_one_place_of_the_guide():
    counts = Counter(first_column_names(GUIDE.read_text(), HEADER))

    assert [name for name, count in counts.items() if count > 1] == []


def test_the_settings_reference_is_grouped_as_an_operator_looks_for_them():
    reference = section(GUIDE.read_text(), "Settings reference")

    headings = [line.removeprefix("### ") for line in reference.splitlines() if line.startswith("### ")]
    assert headings == [
        "Web",
        "Database",
        "Broker",
        "Cluster",
        "Provisioning",
        "Sync",
        "Chargeback",
        "Notifications",
        "Single sign-on",
        "Monitoring",
        "Logs",
        "Security",
    ]


def test_the_readme_names_only_variables_the_guide_documents():
    readme = first_column_names(section(README.read_text(), "Configuration"), HEADER)
    documented = set(first_column_names(GUIDE.read_text(), HEADER))

    assert readme, "the README keeps the settings a first run needs"
    assert set(readme) <= documented, sorted(set(readme) - documented)
