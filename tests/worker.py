"""Real Celery workers for the tests: in a thread of the test process, or in processes of their own."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection
from kombu.asynchronous import set_event_loop

from portal.celery import app as celery_app
from tests.kube import wait_until


@contextmanager
def running_worker() -> Iterator[None]:
    """A real Celery worker, in a thread of this process, consuming the configured broker."""
    try:
        with start_worker(celery_app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        # The worker leaves its event loop behind as kombu's process-wide current loop; the next
        # worker of this process would adopt it, with the stopped worker's timer, and never run
        # a task with a countdown.
        set_event_loop(None)


def database_url() -> str:
    """The test database as a DATABASE_URL, for portal processes started by a test."""
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"


@contextmanager
def portal_process(command: list[str], log_path: Path, ready: str, **environment: str) -> Iterator[subprocess.Popen]:
    """A portal process (`manage.py ...`, `celery -A portal ...`) on the test database, its output in `log_path`.

    Ready once `ready` appears in its output; stopped with SIGTERM (a worker's warm shutdown) at the end.
    """
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1", **environment}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, *command], cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_until(
                lambda: ready in log_path.read_text() or process.poll() is not None,
                timeout=60,
                what=f"{' '.join(command)} to start",
            )
            if process.poll() is not None:
                raise RuntimeError(f"{' '.join(command)} exited; its output:\n{log_path.read_text()[-3000:]}")
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def worker_process(log_path: Path, *, queues: str = "", **environment: str):
    """`celery -A portal worker --pool=solo` in a process of its own; `queues`: its `-Q`, else the default queue."""
    command = ["-m", "celery", "-A", "portal", "worker", "--pool=solo", "--without-gossip", "--without-mingle"]
    return portal_process([*command, *(["-Q", queues] if queues else [])], log_path, "ready.", **environment)


def web_process(log_path: Path, port: int, **environment: str):
    """The portal's web server (`manage.py runserver`, no reloader) in a process of its own."""
    command = ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    return portal_process(command, log_path, "Quit the server with", **environment)
