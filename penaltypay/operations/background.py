"""The background worker's continuous parts, wired from settings (the worker command runs
them beside the apps' periodic jobs): ECS outbox delivery and the extract drop folder."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from penaltypay.ecs.delivery import Policy
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.ecs.ports import ecs_for_delivery
from penaltypay.extract import drop_folder, importer
from penaltypay.kernel.periodic import periodic_jobs
from penaltypay.payments.ecs_sync import record_delivered

log = logging.getLogger("penaltypay.worker")


def delivery_policy() -> Policy:
    """The outbox worker's retry pacing and breaker, from settings."""
    return Policy(
        backoff_base_seconds=settings.ECS_BACKOFF_BASE_SECONDS,
        backoff_cap_seconds=settings.ECS_BACKOFF_CAP_SECONDS,
        breaker_failure_threshold=settings.ECS_BREAKER_FAILURE_THRESHOLD,
        breaker_min_open_seconds=settings.ECS_BREAKER_MIN_OPEN_SECONDS,
        breaker_max_open_seconds=settings.ECS_BREAKER_MAX_OPEN_SECONDS,
        unknown_outcome_settle_seconds=settings.ECS_UNKNOWN_OUTCOME_SETTLE_SECONDS,
    )


def build_outbox_worker(concurrency: int | None = None) -> OutboxWorker:
    return OutboxWorker(
        ecs_for_delivery,
        on_delivered=record_delivered,
        concurrency=concurrency or settings.ECS_OUTBOX_CONCURRENCY,
        lease_seconds=settings.ECS_OUTBOX_LEASE_SECONDS,
        respect_batch_window=settings.ECS_RESPECT_BATCH_WINDOW,
        policy=delivery_policy(),
    )


@dataclass(frozen=True)
class WorkerPart:
    name: str
    what: str
    cadence: str


# What the worker runs besides the periodic jobs (penaltypay.kernel.periodic), which run
# one process at a time across all workers, each under its own lease.
CONTINUOUS = [
    WorkerPart(
        "ecs-outbox",
        "delivers every payment, refund and reversal to ECS, exactly once and in order per case",
        "continuously, on its own threads (--no-outbox: not in this process)",
    ),
    WorkerPart(
        "extract-drop-folder",
        "loads nightly extract files that arrive in EXTRACT_DROP_DIR",
        "every EXTRACT_DROP_POLL_SECONDS (0: off)",
    ),
]


def worker_parts() -> list[WorkerPart]:
    """Everything the worker does, for its --help, the README and the architecture doc
    (a test compares them)."""
    return CONTINUOUS + [WorkerPart(job.name, job.what, job.cadence) for job in periodic_jobs()]


class DropFolderWatch:
    """Loads what has arrived in the drop folder, only when its contents changed, so a
    file waiting for a missing sequence is not re-reported every pass."""

    def __init__(self) -> None:
        self._seen: list | None = None
        self._next = 0.0

    @staticmethod
    def _listing(folder: Path) -> list:
        return sorted((p.name, p.stat().st_mtime, p.stat().st_size) for p in folder.iterdir() if p.is_file())

    def run_pass(self, force: bool = False) -> None:
        poll = settings.EXTRACT_DROP_POLL_SECONDS
        if not force and (poll <= 0 or time.monotonic() < self._next):
            return
        self._next = time.monotonic() + poll
        folder = Path(settings.EXTRACT_DROP_DIR)
        try:
            seen = self._listing(folder)
        except FileNotFoundError:
            return
        if not seen or (seen == self._seen and not force):
            return
        try:
            drop_folder.import_drop_folder(folder)  # logs each file's outcome itself
        except importer.ImportBusy:
            return  # another process is importing; look again next time
        except Exception:
            log.exception("extract drop-folder import failed")
            return
        self._seen = self._listing(folder)
