"""Singleton jobs: only one process runs a given job at a time.

On PostgreSQL the job's row is locked with SELECT ... FOR UPDATE NOWAIT for the
length of one run; a second process skips that run. On SQLite (one local worker)
the database's own write lock serialises runs.
"""
from __future__ import annotations

import contextlib
import os
import socket

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from penaltypay.operations.models import JobLock


@contextlib.contextmanager
def exclusive_job(name: str):
    """Yields True when this process holds the job for the duration of the block."""
    JobLock.objects.get_or_create(name=name)
    with transaction.atomic():
        try:
            if connection.vendor == "postgresql":
                lock = JobLock.objects.select_for_update(nowait=True).get(name=name)
            else:
                lock = JobLock.objects.get(name=name)
        except DatabaseError:
            yield False
            return
        lock.holder = f"{socket.gethostname()}:{os.getpid()}"
        lock.heartbeat_at = timezone.now()
        lock.save(update_fields=["holder", "heartbeat_at"])
        yield True
