"""A scratch PostgreSQL database per benchmark, made and dropped the way Django's test runner does."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from django.db import connections


@contextmanager
def scratch_database(label: str) -> Iterator[str]:
    """Create, migrate and use a database of this run's own; yield its URL (for worker processes); drop it.

    Django's default connection points at it meanwhile, exactly as under `manage.py test`.
    """
    connection = connections["default"]
    settings_dict = connection.settings_dict
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError(
            f"benchmarks need PostgreSQL (a worker process must reach the same database); got {settings_dict['ENGINE']}"
        )
    name = f"gpu_portal_bench_{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    original_name = settings_dict["NAME"]
    test_settings = settings_dict.setdefault("TEST", {})
    original_test_name = test_settings.get("NAME")
    test_settings["NAME"] = name
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield _url(settings_dict)
    finally:
        connections.close_all()
        settings_dict["NAME"], test_settings["NAME"] = original_name, original_test_name
        # FORCE: a worker process killed mid-task may still hold a session.
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD")
    credentials = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{settings_dict['NAME']}"
