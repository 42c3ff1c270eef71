"""The guide's backup and restore commands, run as written against PostgreSQL, give back the same portal.

A throw-away database is migrated and seeded as the demo is (`migrate`, `seed_demo`); the shell blocks of
docs/operations.md's "Backup and restore" section run in a scratch directory, the backup with DATABASE_URL
naming that database and the restore with DATABASE_URL naming an empty one, as the guide says. The
restored database has every table with the same number of rows, sequences that continue past the restored
rows, and the schema the checkout's migrations expect. Blocks that call kubectl (stopping and starting the
portal's pods) are the guide's only commands not run here.
"""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.kube import REPO_ROOT
from tests.portal.guide import GUIDE, section, shell_blocks

#: The server of the suite's database when it runs on PostgreSQL (CI), else the machine's own.
SUITE_URL = os.environ.get("DATABASE_URL", "")
SERVER_URL = (
    SUITE_URL
    if SUITE_URL.startswith(("postgres://", "postgresql://"))
    else "postgres://postgres@127.0.0.1:5432/postgres"
)
#: Tables a restored portal cannot lose without people noticing.
MAIN_TABLES = (
    "auth_user",
    "teams_costcenter",
    "teams_gputier",
    "teams_rate",
    "teams_team",
    "teams_membership",
    "teams_teamnamespace",
    "teams_auditevent",
)


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    """A source and an empty target database of this test's own, dropped afterwards."""
    server = database_url("postgres")
    names = [f"gpq_backup_{uuid.uuid4().hex[:8]}", f"gpq_restored_{uuid.uuid4().hex[:8]}"]
    try:
        connection = psycopg.connect(server, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.fail(f"no PostgreSQL at {server} ({error}); start it (.ci/run does) or set DATABASE_URL to one")
    with connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    yield database_url(names[0]), database_url(names[1])
    with psycopg.connect(server, autocommit=True) as connection:
        for name in names:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def environment(database: str, scratch: Path) -> dict[str, str]:
    """The shell of an operator who has the portal's DATABASE_URL, with the virtualenv's python on PATH."""
    return {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(scratch)),
        "DEBUG": "1",
        "DATABASE_URL": database,
        "PORTAL_DATA_DIR": str(scratch / "var"),
        "CELERY_BROKER_URL": f"sqla+sqlite:///{scratch / 'broker.sqlite3'}",
    }


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {table: connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}


def test_the_guides_backup_and_restore_give_back_every_row(databases: tuple[str, str], tmp_path: Path):
    source, target = databases
    blocks = [
        block for block in shell_blocks(section(GUIDE.read_text(), "Backup and restore")) if "kubectl" not in block
    ]
    (backup,) = [block for block in blocks if "pg_dump" in block]
    (restore,) = [block for block in blocks if "pg_restore --no-owner" in block]
    scratch = tmp_path / "operator"
    scratch.mkdir()
    # Given a portal with the demo's world in its database
    run([sys.executable, "manage.py", "migrate", "--no-input"], environment(source, tmp_path), REPO_ROOT)
    run([sys.executable, "manage.py", "seed_demo"], environment(source, tmp_path), REPO_ROOT)
    before = row_counts(source)

    # When the operator backs it up, and restores the dump into an empty database
    run(["bash", "-euo", "pipefail", "-c", backup], environment(source, tmp_path), scratch)
    run(["bash", "-euo", "pipefail", "-c", restore], environment(target, tmp_path), scratch)

    # Then every table holds what it held
    after = row_counts(target)
    assert after == before
    assert all(before[table] > 0 for table in MAIN_TABLES), {table: before[table] for table in MAIN_TABLES}
    # New rows continue the restored ids rather than colliding with them
    with psycopg.connect(target) as connection:
        highest = connection.execute("SELECT max(id) FROM teams_auditevent").fetchone()[0]
        following = connection.execute("SELECT nextval(pg_get_serial_sequence('teams_auditevent', 'id'))").fetchone()[0]
    assert following > highest
    # And the restored database is the schema this release's pods wait for (their init container's check)
    run([sys.executable, "manage.py", "migrate", "--check"], environment(target, tmp_path), REPO_ROOT)
