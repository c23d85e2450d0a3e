"""The receipt a keeper keeps (issue 35, ADR 0030): which payment a receipt link opens.

Two ways to a payment's receipt PDF, and no other: the browser that was just shown the
confirmation (its session lists the payment), and the signed link in the receipt email,
valid for LINK_DAYS without signing in. The link is the payment's id signed with the
service's secret key, with the time it was made: unguessable, unforgeable, and dead after
LINK_DAYS (or when SECRET_KEY is rotated). Anything else is "not found"."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils import timezone

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment

LINK_DAYS = 90
_SALT = "penaltypay.payments.receipt-link"


def receipt_token(payment: Payment, issued_at: datetime | None = None) -> str:
    """Signed (and compressed): the payment and when the link was made, by the service's clock."""
    issued = int((issued_at or timezone.now()).timestamp())
    return signing.dumps({"p": str(payment.id), "t": issued}, salt=_SALT, compress=True)


def receipt_link(payment: Payment) -> str:
    """The address in the receipt email (citizen:receipt-link). Production requires
    PUBLIC_BASE_URL; locally `make run`'s own address."""
    base = (settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/receipt/{receipt_token(payment)}"


def paid_payment(payment_id: str) -> Payment | None:
    """A payment that succeeded, with its lines; None for anything else."""
    try:
        payment = Payment.objects.prefetch_related("lines").get(pk=payment_id)
    except (Payment.DoesNotExist, ValidationError):  # no such payment, or not an id at all
        return None
    return payment if payment.state is PaymentStatus.SUCCESS else None


def payment_of_link(token: str) -> Payment | None:
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:  # forged or altered
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("t"), int):
        return None
    if timezone.now().timestamp() - payload["t"] > timedelta(days=LINK_DAYS).total_seconds():
        return None  # older than LINK_DAYS
    return paid_payment(str(payload.get("p")))
