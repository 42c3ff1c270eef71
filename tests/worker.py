"""A real Celery worker for the tests, in a thread of the test process."""

from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker
from kombu.asynchronous import set_event_loop

from portal.celery import app as celery_app


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
