"""Receipt emails. GOV.UK Notify in production; Django's email backend locally
(by default a file per message under var/mail, where a developer can read it)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation

from penaltypay.money import format_pence

log = logging.getLogger(__name__)


def _personalisation(payment) -> dict:
    from penaltypay.cases.domain import CASE_TYPE_NAMES, LONDON

    paid_at = (payment.authorised_at or timezone.now()).astimezone(LONDON)
    return {
        "payment_reference": payment.reference,
        "penalty_reference": payment.case_reference,
        "penalty_type": CASE_TYPE_NAMES.get(payment.case_type, "penalty"),
        "amount": format_pence(payment.amount_pence),
        "paid_at": paid_at.strftime("%-d %B %Y at %-I:%M%p").replace("AM", "am").replace("PM", "pm"),
    }


def send_payment_receipt(payment) -> None:
    values = _personalisation(payment)
    if settings.NOTIFY_API_KEY:
        # Imported here: only production needs the Notify client.
        from notifications_python_client.notifications import NotificationsAPIClient

        NotificationsAPIClient(settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL).send_email_notification(
            email_address=payment.email,
            template_id=settings.NOTIFY_RECEIPT_TEMPLATE_ID,
            personalisation=values,
            reference=payment.reference,
        )
        return
    with translation.override(payment.language or "en"):
        subject = render_to_string("citizen/email/receipt_subject.txt", values).strip()
        body = render_to_string("citizen/email/receipt_body.txt", values)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.email])
    log.info("receipt email sent", extra={"payment_reference": payment.reference})
