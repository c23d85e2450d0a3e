"""Singleton jobs: only one process runs a given job at a time, across every worker.

A job is taken by a lease on its row (a compare-and-set UPDATE, committed at once), not
by a lock held in an open transaction: the job's own work then runs in short
transactions of its own, visible as it goes. A holder that dies leaves a lease that
expires. Overrunning the lease is harmless for the jobs here (each item is settled
with its own compare-and-set), only wasteful.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from penaltypay.operations.models import JobLock

DEFAULT_LEASE = timedelta(minutes=10)


@contextlib.contextmanager
def exclusive_job(name: str, lease: timedelta = DEFAULT_LEASE) -> Iterator[bool]:
    """Yields True when this process holds the job for the duration of the block."""
    JobLock.objects.get_or_create(name=name)
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = timezone.now()
    taken = JobLock.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), name=name).update(
        holder=holder, heartbeat_at=now, lease_until=now + lease
    )
    if taken != 1:
        yield False
        return
    try:
        yield True
    except BaseException:
        JobLock.objects.filter(name=name, holder=holder).update(lease_until=None, heartbeat_at=timezone.now())
        raise
    ended = timezone.now()
    JobLock.objects.filter(name=name, holder=holder).update(lease_until=None, heartbeat_at=ended, succeeded_at=ended)


def last_success(name: str):
    """When the job last ended without an error (None: never)."""
    return JobLock.objects.filter(name=name).values_list("succeeded_at", flat=True).first()
