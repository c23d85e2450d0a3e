"""The background re-checker: settles payments whose keeper never came back, resolves
unknown creates, cancels abandoned ones that turn up, resends failed receipts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from penaltypay.kernel import request_id
from penaltypay.payments import ports
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.receipts import send_receipt_once, send_refund_email_once
from penaltypay.payments.refund_rules import RefundStatus
from penaltypay.payments.refunds import follow_refunds
from penaltypay.payments.settlement import (
    find_at_provider,
    move,
    refresh_payment,
    settle_payment,
)

log = logging.getLogger("penaltypay.payments")

# An unknown create that the provider's search has not shown after this long is abandoned
# by the re-checker (the payer never got its card-page link, so nobody can pay on it).
ABANDON_UNKNOWN_AFTER = timedelta(minutes=10)
# Abandoned creates are still searched for this long, and cancelled if they turn up.
WATCH_ABANDONED_FOR = timedelta(hours=3)


@dataclass
class RecheckReport:
    checked: int = 0
    settled: int = 0
    abandoned: int = 0
    cancelled: int = 0
    failed: int = 0
    receipts_sent: int = 0
    refunds_moved: int = 0


def recheck_payments(
    client: ports.PaymentProvider, *, older_than: timedelta, now: datetime | None = None
) -> RecheckReport:
    """The background re-checker: settle every payment still in progress, resolve
    unknown creates, cancel abandoned ones that turn up, and resend failed receipts.
    One failing item never stops the rest."""
    now = now or timezone.now()
    report = RecheckReport()
    stale = now - older_than
    candidates = Payment.objects.filter(
        status__in=[PaymentStatus.IN_PROGRESS.value, PaymentStatus.CREATE_UNKNOWN.value, PaymentStatus.NEW.value],
        updated_at__lte=stale,
    ).order_by("created_at")
    for payment in candidates.iterator():
        report.checked += 1
        try:
            before = payment.status
            if payment.state is PaymentStatus.NEW:
                # A process died between writing the row and hearing from the provider.
                move(payment, PaymentStatus.CREATE_UNKNOWN, "recheck")
            with request_id.use(payment.request_id):  # its lines join the request that made it
                payment = refresh_payment(payment, client, source="recheck")
            if payment.state is PaymentStatus.CREATE_UNKNOWN and payment.created_at <= now - ABANDON_UNKNOWN_AFTER:
                move(payment, PaymentStatus.ABANDONED, "recheck")
                report.abandoned += 1
            elif payment.status != before:
                report.settled += 1
        except Exception:
            report.failed += 1
            log.exception("re-check failed for one payment", extra={"payment_reference": payment.reference})
    for payment in Payment.objects.filter(
        status=PaymentStatus.ABANDONED.value, created_at__gte=now - WATCH_ABANDONED_FOR
    ).iterator():
        try:
            found = find_at_provider(payment, client)
            if found is None:
                continue
            if not found.finished:
                client.cancel_payment(found.payment_id)
                report.cancelled += 1
            elif found.status == "success":
                settle_payment(payment, found, source="recheck")
                report.settled += 1
        except Exception:
            report.failed += 1
            log.exception("could not check an abandoned payment", extra={"payment_reference": payment.reference})
    for payment in Payment.objects.filter(status=PaymentStatus.SUCCESS.value, receipt_sent_at__isnull=True).exclude(
        email=""
    ):
        if send_receipt_once(payment.pk):
            report.receipts_sent += 1
    _recheck_refunds(client, stale, report)
    return report


def _recheck_refunds(client: ports.PaymentProvider, stale: datetime, report: RecheckReport) -> None:
    """Approved refunds not yet finished (provider unreachable, outcome unknown, no webhook
    came), and refund emails that failed."""
    waiting = Refund.objects.filter(
        status__in=[RefundStatus.SUBMITTING.value, RefundStatus.SUBMITTED.value], updated_at__lte=stale
    ).values_list("payment_id", flat=True)
    for payment in Payment.objects.filter(pk__in=set(waiting)):
        try:
            report.refunds_moved += follow_refunds(payment, client)
        except Exception:
            report.failed += 1
            log.exception("could not follow a payment's refunds", extra={"payment_reference": payment.reference})
    for refund_pk in (
        Refund.objects.filter(status=RefundStatus.SUCCESS.value, email_sent_at__isnull=True)
        .exclude(payment__email="")
        .values_list("pk", flat=True)
    ):
        send_refund_email_once(refund_pk)
