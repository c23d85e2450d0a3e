"""The keeper's receipt: claimed, then sent once; a failed send is released for a retry.
The sender is the adapter settings name (`RECEIPT_SENDER`, a `ports.ReceiptSender`)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from penaltypay.kernel.metrics import RECEIPTS
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment
from penaltypay.payments.ports import ReceiptSender

log = logging.getLogger("penaltypay.payments")


def receipt_sender() -> ReceiptSender:
    return import_string(settings.RECEIPT_SENDER)()


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
