"""Singleton jobs: only one process runs a given job at a time, across every worker.

A job is taken by a lease on its row (a compare-and-set UPDATE, committed at once), not
by a lock held in an open transaction: the job's own work then runs in short
transactions of its own, visible as it goes. A holder that dies leaves a lease that
expires. Overrunning the lease is harmless for the jobs here (each item is settled
with its own compare-and-set), only wasteful.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from penaltypay.kernel.periodic import periodic_job, periodic_jobs
from penaltypay.operations.models import JobLock

log = logging.getLogger("penaltypay.worker")

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
        _give_back(name, holder)
        raise
    _give_back(name, holder, succeeded=True)


def _give_back(name: str, holder: str, *, succeeded: bool = False) -> None:
    """Release the lease. A job cut off by a database restart or failover left this
    process's connection dead: the release is made on a new one, or the job (the payment
    re-check among them) would stay held for its whole lease after every failover."""
    for attempt in (1, 2):
        ended = timezone.now()
        fields = {"lease_until": None, "heartbeat_at": ended, **({"succeeded_at": ended} if succeeded else {})}
        try:
            JobLock.objects.filter(name=name, holder=holder).update(**fields)
            return
        except DatabaseError:
            if attempt == 2 or connection.in_atomic_block:
                log.warning("could not give a job's lease back; it expires by itself", extra={"job": name})
                return
            connection.close()


def last_success(name: str):
    """When the job last ended without an error (None: never)."""
    return JobLock.objects.filter(name=name).values_list("succeeded_at", flat=True).first()


def run_job(name: str, now: datetime | None = None) -> object:
    """One periodic job (penaltypay.kernel.periodic), if it is due and no other process holds
    its lease: its report, or None when it did not run here."""
    job = periodic_job(name)
    now = now or timezone.now()
    if not job.due(now, last_success(name)):
        return None
    with exclusive_job(name, lease=job.lease) as mine:
        if not mine:
            return None
        return job.run(now)


def run_periodic_jobs(now: datetime | None = None) -> dict[str, object]:
    """The worker's round: every declared job, each under its own lease, whatever happened
    to the others (one held elsewhere, or failing, stops nothing else)."""
    reports: dict[str, object] = {}
    for job in periodic_jobs():
        try:
            reports[job.name] = run_job(job.name, now)
        except Exception:
            log.exception("periodic job failed", extra={"job": job.name})
            reports[job.name] = None
    return reports
