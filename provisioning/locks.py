"""Leases in the database, so that periodic work runs at most once at a time.

Two beat processes (a deploy that overlaps, a second replica) would otherwise double
every sync. A lease must not outlive its holder: it lasts a third of its task's interval
(CELERY_BEAT_SCHEDULE) and a thread renews it while the holder works, so a holder that
dies, or whose release fails because the database went away, blocks the next run for at
most that third, never a whole run. A run skipped while the work has not completed for
longer than one interval is a warning: the data is going stale.
"""

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from provisioning.models import TaskLock

logger = logging.getLogger(__name__)


@contextmanager
def task_lock(task: str, scope: str = "") -> Iterator[bool]:
    """Yield True if this caller holds the lease of the periodic task `task` (for `scope`, e.g. one cluster,
    when the task's work is split so), False if another caller does."""
    name = f"{task}:{scope}" if scope else task
    interval = beat_interval(task)
    ttl = interval / 3
    token = uuid.uuid4().hex
    now = timezone.now()
    try:
        with transaction.atomic():
            TaskLock.objects.get_or_create(name=name, defaults={"expires_at": now})
    except IntegrityError:
        pass  # created by a concurrent caller in the meantime
    acquired = TaskLock.objects.filter(name=name, expires_at__lte=now).update(owner=token, expires_at=now + ttl) == 1
    if not acquired:
        _log_skip(name, interval)
        yield False
        return
    renewal = _Renewal(name, token, ttl)
    renewal.start()
    try:
        yield True
    finally:
        renewal.stop()
        _release(name, token)


def beat_interval(task: str) -> timedelta:
    """How often beat sends `task` (settings.CELERY_BEAT_SCHEDULE)."""
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] == task:
            return timedelta(seconds=entry["schedule"])
    raise LookupError(f"{task} is not in CELERY_BEAT_SCHEDULE; a lease is sized from its task's interval.")


def _release(name: str, token: str) -> None:
    try:
        now = timezone.now()
        TaskLock.objects.filter(name=name, owner=token).update(owner="", expires_at=now, completed_at=now)
    except DatabaseError as error:
        # The lease expires by itself within a third of the interval; the work's own error is the one to raise.
        logger.warning("lease.release_failed", extra={"lock": name, "error": str(error)})


def _log_skip(name: str, interval: timedelta) -> None:
    completed_at = TaskLock.objects.filter(name=name).values_list("completed_at", flat=True).first()
    stale = None if completed_at is None else (timezone.now() - completed_at).total_seconds()
    if stale is not None and stale > interval.total_seconds():
        logger.warning("lease.skipped", extra={"lock": name, "seconds_since_completed": round(stale)})
    else:
        logger.info("lease.skipped", extra={"lock": name, "seconds_since_completed": stale and round(stale)})


class _Renewal(threading.Thread):
    """Extends the lease every third of its TTL while the holder works, on a connection of its own."""

    def __init__(self, name: str, token: str, ttl: timedelta) -> None:
        super().__init__(name=f"lease {name}", daemon=True)
        self.lock_name, self.token, self.ttl = name, token, ttl
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.ttl.total_seconds() / 3):
                try:
                    TaskLock.objects.filter(name=self.lock_name, owner=self.token).update(
                        expires_at=timezone.now() + self.ttl
                    )
                except DatabaseError as error:
                    logger.warning("lease.renew_failed", extra={"lock": self.lock_name, "error": str(error)})
                    connection.close()  # reconnect at the next renewal
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join()
