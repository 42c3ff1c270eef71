"""Leases in the database, so that periodic work runs at most once at a time.

Two beat processes (a deploy that overlaps, a second replica) would otherwise double
every sync. A lease expires by itself, so a worker that dies never blocks the next run.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from provisioning.models import TaskLock


@contextmanager
def task_lock(name: str, ttl: timedelta) -> Iterator[bool]:
    """Yield True if this caller holds the lease `name` for at most `ttl`, False if another does."""
    token = uuid.uuid4().hex
    now = timezone.now()
    try:
        with transaction.atomic():
            TaskLock.objects.get_or_create(name=name, defaults={"expires_at": now})
    except IntegrityError:
        pass  # created by a concurrent caller in the meantime
    acquired = TaskLock.objects.filter(name=name, expires_at__lte=now).update(owner=token, expires_at=now + ttl) == 1
    try:
        yield acquired
    finally:
        if acquired:
            TaskLock.objects.filter(name=name, owner=token).update(owner="", expires_at=timezone.now())
