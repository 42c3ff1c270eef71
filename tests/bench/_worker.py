"""Celery workers for the benchmarks: real processes on a run's own database and queue."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from portal.celery import app as celery_app

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def celery_worker(database_url: str, queue: str, hostname: str, log_path: Path) -> Iterator[subprocess.Popen]:
    """`celery -A portal worker --pool=solo` in a subprocess, on this run's database and queue."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "--without-gossip",
        "--without-mingle",
        f"--hostname={hostname}",
        f"--queues={queue}",
        "--loglevel=WARNING",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": database_url}, stdout=log, stderr=log
        )
        try:
            started = time.monotonic()
            while not celery_app.control.ping(destination=[hostname], timeout=0.5):
                if process.poll() is not None or time.monotonic() - started > 60:
                    raise RuntimeError(f"the worker did not start; its log:\n{log_path.read_text()[-3000:]}")
            print(f"worker {hostname} (pid {process.pid}) ready in {time.monotonic() - started:.1f} s", flush=True)
            yield process
        finally:
            if process.poll() is None:
                process.terminate()  # warm shutdown: finishes the task at hand
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            forget_queue(queue)


def forget_queue(queue: str) -> None:
    """Kombu's Redis transport keeps a queue's binding after the queue is drained; drop this run's."""
    url = celery_app.conf.broker_url
    if url.startswith(("redis://", "rediss://")):
        with redis.Redis.from_url(url) as connection:
            connection.delete(f"_kombu.binding.{queue}")
