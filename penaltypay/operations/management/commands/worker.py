"""The background worker: settles payments still in progress (the keeper closed
the browser on the card page, or never came back) and resends failed receipts."""
from __future__ import annotations

import logging
import signal
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from penaltypay.operations.jobs import exclusive_job
from penaltypay.payments.gateway import pay_client
from penaltypay.payments.services import recheck_payments

log = logging.getLogger("penaltypay.worker")


class Command(BaseCommand):
    help = "Run the background worker (payment re-checker)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one pass and exit")
        parser.add_argument("--interval", type=float, default=15.0, help="seconds between passes")

    def handle(self, *args, once=False, interval=15.0, **options):
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            self.run_pass()
            if once or stopping:
                return
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not stopping:
                time.sleep(0.5)
            if stopping:
                return

    def run_pass(self):
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
