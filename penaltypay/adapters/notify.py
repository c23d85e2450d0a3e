"""The email adapter: the keeper's receipt through GOV.UK Notify (production), or through
Django's email backend (locally a file per message under var/mail, where a developer can
read it). Both implement `penaltypay.payments.ports.ReceiptSender`; settings choose one
(`RECEIPT_SENDER`)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation
from notifications_python_client.notifications import NotificationsAPIClient

from penaltypay.cases.domain import CASE_TYPE_NAMES
from penaltypay.kernel.clock import LONDON
from penaltypay.kernel.money import format_pence

log = logging.getLogger(__name__)


def receipt_values(payment: Any) -> dict[str, str]:
    """What a receipt says: the same fields for Notify's template and our own."""
    paid_at = (payment.authorised_at or timezone.now()).astimezone(LONDON)
    return {
        "payment_reference": payment.reference,
        "penalty_reference": payment.case_reference,
        "penalty_type": CASE_TYPE_NAMES.get(payment.case_type, "penalty"),
        "amount": format_pence(payment.amount_pence),
        "paid_at": paid_at.strftime("%-d %B %Y at %-I:%M%p").replace("AM", "am").replace("PM", "pm"),
    }


class NotifyReceipts:
    """GOV.UK Notify: one template, filled with `receipt_values`."""

    def send_payment_receipt(self, payment: Any) -> None:
        NotificationsAPIClient(settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL).send_email_notification(
            email_address=payment.email,
            template_id=settings.NOTIFY_RECEIPT_TEMPLATE_ID,
            personalisation=receipt_values(payment),
            reference=payment.reference,
        )


class EmailReceipts:
    """Django's email backend, with our own templates in the keeper's language."""

    def send_payment_receipt(self, payment: Any) -> None:
        values = receipt_values(payment)
        with translation.override(payment.language or "en"):
            subject = render_to_string("citizen/email/receipt_subject.txt", values).strip()
            body = render_to_string("citizen/email/receipt_body.txt", values)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.email])
        log.info("receipt email sent", extra={"payment_reference": payment.reference})
