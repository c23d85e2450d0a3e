"""The payments app's periodic jobs (penaltypay.kernel.periodic): the worker runs each under
its own lease."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from penaltypay.kernel.periodic import periodic
from penaltypay.payments.disputes import SyncReport, sync_disputes
from penaltypay.payments.ports import payment_provider
from penaltypay.payments.recheck import RecheckReport, recheck_payments

log = logging.getLogger("penaltypay.worker")


@periodic(
    "payment-recheck",
    what="settles payments and refunds still in progress (the keeper closed the card page) and resends failed receipts",
    cadence="every pass (--interval)",
)
def recheck(now: datetime) -> RecheckReport:
    report = recheck_payments(payment_provider(), older_than=timedelta(seconds=settings.PAYMENT_RECHECK_AFTER_SECONDS))
    if report.checked or report.cancelled or report.receipts_sent or report.refunds_moved:
        log.info("payment re-check pass", extra=vars(report))
    return report


def _disputes_due(now: datetime, last_success: datetime | None) -> bool:
    # After a failure (no success recorded), on the next pass.
    return last_success is None or last_success <= now - timedelta(seconds=settings.DISPUTE_SYNC_SECONDS)


@periodic(
    "dispute-sync",
    what="searches the provider's disputes: the truth behind dispute webhooks, which may be lost",
    cadence="every DISPUTE_SYNC_SECONDS",
    due=_disputes_due,
)
def search_disputes(now: datetime) -> SyncReport:
    report = sync_disputes(payment_provider())
    if report.moved or report.unknown_payment:
        log.info("dispute search", extra=vars(report))
    return report
