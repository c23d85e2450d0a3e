"""The background worker:
- delivers the ECS outbox (every payment and refund, exactly once, in order per case);
- settles payments still in progress (the keeper closed the browser on the card page)
  and resends failed receipts;
- loads nightly extract files that arrive in the drop folder (EXTRACT_DROP_DIR), when
  EXTRACT_DROP_POLL_SECONDS > 0.
Several workers may run at once against PostgreSQL; on SQLite run one."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from penaltypay.ecs.factory import delivery_policy, ecs_writer_client
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.operations.jobs import exclusive_job
from penaltypay.payments.gateway import pay_client
from penaltypay.payments.services import recheck_payments

log = logging.getLogger("penaltypay.worker")


class Command(BaseCommand):
    help = "Run the background worker (ECS outbox delivery, payment re-checker)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="one re-check pass, then deliver what is deliverable now, and exit")
        parser.add_argument("--interval", type=float, default=15.0, help="seconds between re-check passes")
        parser.add_argument("--concurrency", type=int, default=None,
                            help="cases delivered to ECS at once (default ECS_OUTBOX_CONCURRENCY)")
        parser.add_argument("--no-outbox", action="store_true", help="do not deliver the ECS outbox")

    def handle(self, *args, once=False, interval=15.0, concurrency=None, no_outbox=False, **options):
        stop = threading.Event()

        def on_signal(signum, frame):
            stop.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
        outbox = OutboxWorker(
            ecs_writer_client,
            concurrency=concurrency or settings.ECS_OUTBOX_CONCURRENCY,
            lease_seconds=settings.ECS_OUTBOX_LEASE_SECONDS,
            respect_batch_window=settings.ECS_RESPECT_BATCH_WINDOW,
            policy=delivery_policy(),
        )
        self._drop_folder_seen = None
        self._drop_folder_next = 0.0
        if once:
            self.run_recheck_pass()
            self.run_drop_folder_pass(force=True)
            if not no_outbox:
                outbox.run(stop, until_idle=True)
            return
        delivering = None
        if not no_outbox:
            delivering = threading.Thread(target=outbox.run, args=(stop,), name="outbox", daemon=True)
            delivering.start()
        while not stop.is_set():
            self.run_recheck_pass()
            self.run_drop_folder_pass()
            stop.wait(interval)
        if delivering is not None:
            delivering.join(timeout=settings.ECS_WRITE_TIMEOUT + 5)

    def run_drop_folder_pass(self, force: bool = False):
        """Load what has arrived in the drop folder; only when its contents changed, so a
        file waiting for a missing sequence is not re-reported every pass."""
        import time
        from pathlib import Path

        from penaltypay.cases.extract import loader

        poll = settings.EXTRACT_DROP_POLL_SECONDS
        if not force and (poll <= 0 or time.monotonic() < self._drop_folder_next):
            return
        self._drop_folder_next = time.monotonic() + poll
        folder = Path(settings.EXTRACT_DROP_DIR)
        try:
            seen = sorted((p.name, p.stat().st_mtime, p.stat().st_size) for p in folder.iterdir() if p.is_file())
        except FileNotFoundError:
            return
        if not seen or (seen == self._drop_folder_seen and not force):
            return
        try:
            loader.import_drop_folder(folder)  # logs each file's outcome itself
        except loader.ImportBusy:
            return  # another process is importing; look again next time
        except Exception:
            log.exception("extract drop-folder import failed")
            return
        self._drop_folder_seen = sorted(
            (p.name, p.stat().st_mtime, p.stat().st_size) for p in folder.iterdir() if p.is_file())

    def run_recheck_pass(self):
        try:
            with exclusive_job("payment-recheck") as mine:
                if not mine:
                    return
                report = recheck_payments(
                    pay_client(), older_than=timedelta(seconds=settings.PAYMENT_RECHECK_AFTER_SECONDS)
                )
            if report.checked or report.cancelled or report.receipts_sent:
                log.info("payment re-check pass", extra=vars(report))
        except Exception:
            log.exception("payment re-check pass failed")
