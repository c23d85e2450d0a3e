"""The background worker's parts, wired from settings (the worker command runs them):
ECS outbox delivery, the payment re-checker, the dispute search, the extract drop folder,
the morning's reconciliation and the nightly retention purge."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from penaltypay.adapters.factories import ecs_for_delivery, payment_provider
from penaltypay.ecs.delivery import Policy
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.exceptions.alerts import announce_new_exceptions
from penaltypay.extract import drop_folder, importer
from penaltypay.kernel.clock import LONDON
from penaltypay.operations.jobs import exclusive_job, last_success
from penaltypay.operations.models import PurgeRun
from penaltypay.operations.retention import PurgeResult, purge_and_record
from penaltypay.payments.disputes import SyncReport, sync_disputes
from penaltypay.payments.ecs_sync import record_delivered
from penaltypay.payments.recheck import recheck_payments
from penaltypay.reconciliation.models import ReconciliationRun
from penaltypay.reconciliation.run import reconcile_day

log = logging.getLogger("penaltypay.worker")
RECONCILE_RETRY = timedelta(minutes=30)


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


def run_periodic_jobs() -> None:
    """The worker's round, every `--interval` seconds: settle payments and refunds still in
    progress (and resend failed receipts), tell the team about new exceptions, the morning's
    reconciliation when due, the nightly purge when due. Each job one process at a time
    across all workers (a lease); the ECS outbox is delivered by its own threads."""
    try:
        with exclusive_job("payment-recheck") as mine:
            if not mine:
                return
            report = recheck_payments(
                payment_provider(), older_than=timedelta(seconds=settings.PAYMENT_RECHECK_AFTER_SECONDS)
            )
        if report.checked or report.cancelled or report.receipts_sent or report.refunds_moved:
            log.info("payment re-check pass", extra=vars(report))
    except Exception:
        log.exception("payment re-check pass failed")
    run_dispute_pass()
    run_exceptions_pass()
    run_reconcile_pass()
    run_purge_pass()


def purge_if_due(now: datetime | None = None) -> PurgeResult | None:
    """Each night at PURGE_AT (Europe/London), apply the retention policy: once a day
    across every worker (a run stopped half way is simply finished the next day)."""
    now = now or timezone.now()
    local = now.astimezone(LONDON)
    if local.time() < dt_time.fromisoformat(settings.PURGE_AT):
        return None
    today_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if PurgeRun.objects.filter(trigger="schedule", finished_at__isnull=False, started_at__gte=today_start).exists():
        return None
    with exclusive_job("purge", lease=timedelta(minutes=60)) as mine:
        if not mine:
            return None
        result = purge_and_record("schedule", now=now)
        log.info("retention purge", extra={"removed": result.removed, "seconds": round(result.seconds, 1)})
        return result


def run_purge_pass() -> None:
    try:
        purge_if_due()
    except Exception:
        log.exception("retention purge failed")


def reconcile_if_due(now: datetime | None = None) -> ReconciliationRun | None:
    """Each morning at RECONCILE_AT (Europe/London), reconcile yesterday: once a day across
    every worker; an incomplete run is resumed every half hour until it completes."""
    now = now or timezone.now()
    local = now.astimezone(LONDON)
    if local.time() < dt_time.fromisoformat(settings.RECONCILE_AT):
        return None
    day = local.date() - timedelta(days=1)
    runs = ReconciliationRun.objects.filter(day=day, trigger="schedule")
    if runs.exclude(status=ReconciliationRun.INCOMPLETE).exists():
        return None
    last = runs.first()
    if last is not None and last.finished_at and last.finished_at > now - RECONCILE_RETRY:
        return None
    with exclusive_job("reconcile", lease=timedelta(minutes=30)) as mine:
        if not mine:
            return None
        return reconcile_day(
            day,
            provider=payment_provider(),
            ecs_factory=ecs_for_delivery,
            trigger="schedule",
            by="worker",
            resume=last is not None,
            now=now,
        )


def sync_disputes_if_due(now: datetime | None = None) -> SyncReport | None:
    """Search the provider's disputes every DISPUTE_SYNC_SECONDS (after a failure, on the
    next pass): the truth behind the dispute webhooks, which may be lost."""
    now = now or timezone.now()
    last = last_success("dispute-sync")
    if last is not None and last > now - timedelta(seconds=settings.DISPUTE_SYNC_SECONDS):
        return None
    with exclusive_job("dispute-sync") as mine:
        if not mine:
            return None
        report = sync_disputes(payment_provider())
    if report.moved or report.unknown_payment:
        log.info("dispute search", extra=vars(report))
    return report


def run_dispute_pass() -> None:
    try:
        sync_disputes_if_due()
    except Exception:
        log.exception("dispute search failed")


def run_reconcile_pass() -> None:
    try:
        reconcile_if_due()
    except Exception:
        log.exception("reconciliation pass failed")


def run_exceptions_pass() -> None:
    """Tell the team about new money exceptions; one process at a time."""
    try:
        with exclusive_job("exceptions-announce") as mine:
            if mine:
                announce_new_exceptions()
    except Exception:
        log.exception("exceptions pass failed")


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
