"""The email adapter: the keeper's receipt through GOV.UK Notify (production), or through
Django's email backend (locally a file per message under var/mail, where a developer can
read it). Both implement `penaltypay.payments.ports.ReceiptSender`; settings choose one
(`RECEIPT_SENDER`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext
from notifications_python_client.notifications import NotificationsAPIClient

from penaltypay.cases.domain import CASE_TYPE_NAMES
from penaltypay.kernel.clock import london_date
from penaltypay.kernel.metrics import OUTBOUND_CALLS
from penaltypay.kernel.money import format_pence
from penaltypay.payments.receipt_links import receipt_link
from penaltypay.web.formats import long_date, long_date_time

log = logging.getLogger(__name__)


def receipt_values(payment: Any) -> dict[str, str]:
    """What a receipt says, in the keeper's language: the same fields for Notify's template
    and our own."""
    with translation.override(_language(payment)):
        lines = list(payment.lines.all())
        return {
            "payment_reference": payment.reference,
            "penalty_reference": ", ".join(line.case_reference for line in lines) or payment.first_case_reference,
            "penalty_type": gettext(CASE_TYPE_NAMES.get(payment.case_type, "penalty")),
            "amount": format_pence(payment.amount_pence),
            "paid_at": long_date_time(payment.authorised_at or timezone.now()),
            "paid_with": payment.wallet_type or "",
            # Every penalty paid, a line each (Notify: ((penalties)); one line for one penalty).
            "penalties": "\n".join(
                f"{line.case_reference} {line.vrm} – {gettext(CASE_TYPE_NAMES.get(line.case_type, 'penalty'))}: "
                f"{format_pence(line.amount_pence)}".replace("  ", " ")
                for line in lines
            ),
            "your_reference": payment.payer_reference,
            # The receipt PDF for LINK_DAYS without signing in (Notify: ((receipt_link))).
            "receipt_link": receipt_link(payment),
        }


def refund_values(refund: Any) -> dict[str, str]:
    """What a refund email says, in the keeper's language."""
    payment = refund.payment
    with translation.override(_language(payment)):
        return {
            "refund_reference": refund.reference,
            "payment_reference": payment.reference,
            "penalty_reference": refund.case_reference or payment.first_case_reference,
            "amount": format_pence(refund.amount_pence),
            "refunded_at": long_date(refund.finished_at or timezone.now()),
        }


def reminder_values(reminder: Any, stop_url: str, amount_pence: int | None = None, start_url: str = "") -> dict:
    """What a reminder (or its confirmation) says, in the keeper's language."""
    with translation.override("cy" if reminder.language == "cy" else "en"):
        values = {
            "penalty_reference": reminder.case_reference,
            "last_day": long_date(reminder.reduction_deadline),
            # Asked for with fewer days left than REMINDER_DAYS_BEFORE: it goes today.
            "reminder_day": long_date(max(reminder.send_on, london_date(timezone.now()))),
            "stop_link": stop_url,
        }
        if amount_pence is not None:
            values.update(amount=format_pence(amount_pence), start_link=start_url)
        return values


def _language(payment: Any) -> str:
    return "cy" if payment.language == "cy" else "en"


def _template(english: str, welsh: str, payment: Any) -> str:
    """One Notify template per language; Welsh falls back to English only where no Welsh
    template is configured (refused in production)."""
    return welsh if _language(payment) == "cy" and welsh else english


class NotifyReceipts:
    """GOV.UK Notify: one template, filled with `receipt_values`."""

    def send_payment_receipt(self, payment: Any) -> None:
        _send(
            "receipt",
            email_address=payment.email,
            template_id=_template(settings.NOTIFY_RECEIPT_TEMPLATE_ID, settings.NOTIFY_RECEIPT_TEMPLATE_ID_CY, payment),
            personalisation=receipt_values(payment),
            reference=payment.reference,
        )

    def send_refund_confirmation(self, refund: Any) -> None:
        _send(
            "refund",
            email_address=refund.payment.email,
            template_id=_template(
                settings.NOTIFY_REFUND_TEMPLATE_ID, settings.NOTIFY_REFUND_TEMPLATE_ID_CY, refund.payment
            ),
            personalisation=refund_values(refund),
            reference=refund.reference,
        )

    def send_reminder_confirmation(self, reminder: Any, stop_url: str) -> None:
        self._reminder(
            "reminder_confirmation", "CONFIRM_", "reminder_set", reminder, reminder_values(reminder, stop_url)
        )

    def send_reminder(self, reminder: Any, amount_pence: int, start_url: str, stop_url: str) -> None:
        values = reminder_values(reminder, stop_url, amount_pence, start_url)
        self._reminder("reminder", "", "reminder", reminder, values)

    def _reminder(self, operation: str, template: str, words: str, reminder: Any, values: dict) -> None:
        """The email (its Notify template per language), then the text message if asked for."""
        reference = f"reminder-{reminder.pk}-{operation}"
        _send(
            operation,
            email_address=reminder.email,
            template_id=_reminder_template(template, reminder),
            personalisation=values,
            reference=reference,
        )
        self._text(reminder, words, values, f"{reference}-text")

    def _text(self, reminder: Any, name: str, values: dict, reference: str) -> None:
        """The same message as a text, in our words (the template is ((body)))."""
        if not (reminder.mobile and settings.NOTIFY_REMINDER_SMS_TEMPLATE_ID):
            return
        with translation.override("cy" if reminder.language == "cy" else "en"):
            body = render_to_string(f"citizen/sms/{name}.txt", values).strip()
        _send(
            "reminder_text",
            method="send_sms_notification",
            phone_number=reminder.mobile,
            template_id=settings.NOTIFY_REMINDER_SMS_TEMPLATE_ID,
            personalisation={"body": body},
            reference=reference,
        )

    def send_payment_link(self, link: Any, url: str) -> None:
        values = link_values(link, url)
        if link.email:
            template = (
                settings.NOTIFY_PAYMENT_LINK_TEMPLATE_ID_CY if link.language == "cy" else ""
            ) or settings.NOTIFY_PAYMENT_LINK_TEMPLATE_ID
            _send(
                "payment-link",
                email_address=link.email,
                template_id=template,
                personalisation=values,
                reference=f"link-{link.pk}",
            )
        if link.mobile and settings.NOTIFY_PAYMENT_LINK_SMS_TEMPLATE_ID:
            _send(
                "payment-link-sms",
                method="send_sms_notification",
                phone_number=link.mobile,
                template_id=settings.NOTIFY_PAYMENT_LINK_SMS_TEMPLATE_ID,
                personalisation=values,
                reference=f"link-{link.pk}",
            )


def link_values(link: Any, url: str) -> dict[str, str]:
    """What a payment link message says, in the keeper's language."""
    with translation.override("cy" if link.language == "cy" else "en"):
        return {"link": url, "penalty_reference": link.case_reference, "expires": long_date(link.expires_at)}


def _reminder_template(kind: str, reminder: Any) -> str:
    english = getattr(settings, f"NOTIFY_REMINDER_{kind}TEMPLATE_ID")
    welsh = getattr(settings, f"NOTIFY_REMINDER_{kind}TEMPLATE_ID_CY")
    return welsh if reminder.language == "cy" and welsh else english


def _send(operation: str, method: str = "send_email_notification", **notification: Any) -> None:
    """One email (or text message) through Notify, timed and counted by outcome."""
    started = time.monotonic()
    client = NotificationsAPIClient(settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL)
    try:
        getattr(client, method)(**notification)
    except Exception as exc:
        OUTBOUND_CALLS.labels("notify", operation, type(exc).__name__).observe(time.monotonic() - started)
        raise
    OUTBOUND_CALLS.labels("notify", operation, "ok").observe(time.monotonic() - started)


class EmailReceipts:
    """Django's email backend, with our own templates in the keeper's language."""

    def send_payment_receipt(self, payment: Any) -> None:
        values = receipt_values(payment)
        with translation.override(_language(payment)):
            subject = render_to_string("citizen/email/receipt_subject.txt", values).strip()
            body = render_to_string("citizen/email/receipt_body.txt", values)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [payment.email])
        log.info("receipt email sent", extra={"payment_reference": payment.reference})

    def send_refund_confirmation(self, refund: Any) -> None:
        values = refund_values(refund)
        with translation.override(_language(refund.payment)):
            subject = render_to_string("citizen/email/refund_subject.txt", values).strip()
            body = render_to_string("citizen/email/refund_body.txt", values)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [refund.payment.email])
        log.info("refund email sent", extra={"refund_reference": refund.reference})

    def send_reminder_confirmation(self, reminder: Any, stop_url: str) -> None:
        self._email(reminder, "reminder_set", reminder_values(reminder, stop_url))

    def send_reminder(self, reminder: Any, amount_pence: int, start_url: str, stop_url: str) -> None:
        self._email(reminder, "reminder", reminder_values(reminder, stop_url, amount_pence, start_url))

    def _email(self, reminder: Any, name: str, values: dict) -> None:
        with translation.override("cy" if reminder.language == "cy" else "en"):
            subject = render_to_string(f"citizen/email/{name}_subject.txt", values).strip()
            body = render_to_string(f"citizen/email/{name}_body.txt", values)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [reminder.email])
        log.info("reminder email sent", extra={"case_reference": reminder.case_reference, "email_kind": name})

    def send_payment_link(self, link: Any, url: str) -> None:
        """By email only (a text message needs Notify)."""
        if not link.email:
            return
        values = link_values(link, url)
        with translation.override("cy" if link.language == "cy" else "en"):
            subject = render_to_string("citizen/email/payment_link_subject.txt", values).strip()
            body = render_to_string("citizen/email/payment_link_body.txt", values)
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [link.email])
        log.info("payment link email sent", extra={"case_reference": link.case_reference})


class NotifyTeamEmail:
    """An email to the service team through Notify (a template whose subject and body are
    `((subject))` and `((body))`)."""

    def send(self, subject: str, body: str, to: str) -> None:
        NotificationsAPIClient(settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL).send_email_notification(
            email_address=to,
            template_id=settings.NOTIFY_TEAM_TEMPLATE_ID,
            personalisation={"subject": subject, "body": body},
        )


class EmailTeamEmail:
    """An email to the service team through Django's email backend."""

    def send(self, subject: str, body: str, to: str) -> None:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


class NotifyStaffMail:
    """Emails to staff (one-time links, notices) through Notify: a template of their own
    whose subject and body are `((subject))` and `((body))` (NOTIFY_STAFF_TEMPLATE_ID)."""

    def send(self, subject: str, body: str, to: str) -> None:
        NotificationsAPIClient(settings.NOTIFY_API_KEY, base_url=settings.NOTIFY_BASE_URL).send_email_notification(
            email_address=to,
            template_id=settings.NOTIFY_STAFF_TEMPLATE_ID,
            personalisation={"subject": subject, "body": body},
        )


class EmailStaffMail:
    """Emails to staff through Django's email backend (locally a file under var/mail)."""

    def send(self, subject: str, body: str, to: str) -> None:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
