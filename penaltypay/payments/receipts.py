"""The keeper's receipt: claimed, then sent once; a failed send is released for a retry.
The sender is a `ports.ReceiptSender`, wired in at start-up from the adapters' factories
(penaltypay.operations.apps): the domain never builds an adapter itself."""

from __future__ import annotations

import logging

from django.utils import timezone

from penaltypay.kernel.metrics import RECEIPTS
from penaltypay.kernel.wiring import Wire
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.ports import ReceiptSender
from penaltypay.payments.refund_rules import RefundStatus

log = logging.getLogger("penaltypay.payments")


# Wired to the adapter at start-up (penaltypay.operations.apps); a test may wire its own.
receipt_sender: Wire[ReceiptSender] = Wire("receipt sender")


def send_receipt_once(payment_pk) -> bool:
    """Claim the receipt, then send it; a failed send is released so the re-checker retries."""
    now = timezone.now()
    payment = Payment.objects.get(pk=payment_pk)
    if not payment.email or payment.state is not PaymentStatus.SUCCESS:
        return False
    if Payment.objects.filter(pk=payment_pk, receipt_sent_at__isnull=True).update(receipt_sent_at=now) != 1:
        return False
    try:
        receipt_sender().send_payment_receipt(payment)
    except Exception as exc:
        Payment.objects.filter(pk=payment_pk, receipt_sent_at=now).update(receipt_sent_at=None)
        # The error's text can quote the address it was sending to: log its type only.
        log.warning(
            "receipt email failed; will retry",
            extra={"payment_reference": payment.reference, "error": type(exc).__name__},
        )
        RECEIPTS.labels("payment", "failed").inc()
        return False
    RECEIPTS.labels("payment", "sent").inc()
    return True


def send_refund_email_once(refund_pk: int) -> bool:
    """Claim, then send; a failed send is released for the re-checker."""
    now = timezone.now()
    refund = Refund.objects.select_related("payment").get(pk=refund_pk)
    if not refund.payment.email or refund.state is not RefundStatus.SUCCESS:
        return False
    if Refund.objects.filter(pk=refund_pk, email_sent_at__isnull=True).update(email_sent_at=now) != 1:
        return False
    try:
        receipt_sender().send_refund_confirmation(refund)
    except Exception as exc:
        Refund.objects.filter(pk=refund_pk, email_sent_at=now).update(email_sent_at=None)
        log.warning(
            "refund email failed; will retry", extra={"refund_reference": refund.reference, "error": type(exc).__name__}
        )
        RECEIPTS.labels("refund", "failed").inc()
        return False
    RECEIPTS.labels("refund", "sent").inc()
    return True
