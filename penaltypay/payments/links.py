"""Payment links: instead of hearing a card number on the phone (MOTO: the contact centre
in PCI scope, no 3-D Secure), an agent sends the keeper a link to our own site. It opens
the penalty only once the keeper confirms the vehicle registration (a forwarded link
reveals nothing), then the normal online journey. One case; PAYMENT_LINK_DAYS; it stops
working once the penalty is paid. Only a hash of its token is kept."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, PaymentLink
from penaltypay.payments.receipts import receipt_sender


class LinkState(str, Enum):
    SENT = "sent"
    OPENED = "opened"
    PAID = "paid"
    EXPIRED = "expired"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def send(case_reference: str, *, by: str, email: str, mobile: str, language: str, base: str) -> PaymentLink:
    token = secrets.token_urlsafe(24)
    link = PaymentLink.objects.create(
        token_hash=_hash(token),
        case_reference=case_reference,
        sent_by=by,
        email=email,
        mobile=mobile,
        language=language if language in ("en", "cy") else "en",
        expires_at=timezone.now() + timedelta(days=settings.PAYMENT_LINK_DAYS),
    )
    url = (settings.PUBLIC_BASE_URL or base).rstrip("/") + reverse("citizen:payment-link", args=[token])
    transaction.on_commit(lambda: receipt_sender().send_payment_link(link, url))
    return link


def find(token: str) -> PaymentLink | None:
    return PaymentLink.objects.filter(token_hash=_hash(token)).first()


def state_of(link: PaymentLink) -> LinkState:
    if link.paid_at is None and link.payment_reference:
        paid = Payment.objects.filter(reference=link.payment_reference, status=PaymentStatus.SUCCESS.value).first()
        if paid is not None:
            PaymentLink.objects.filter(pk=link.pk, paid_at__isnull=True).update(paid_at=paid.finished_at)
            link.paid_at = paid.finished_at or timezone.now()
    if link.paid_at:
        return LinkState.PAID
    if link.expires_at <= timezone.now():
        return LinkState.EXPIRED
    return LinkState.OPENED if link.opened_at else LinkState.SENT


def opened(link: PaymentLink) -> None:
    PaymentLink.objects.filter(pk=link.pk, opened_at__isnull=True).update(opened_at=timezone.now())


def payment_started(link_pk: int, payment_reference: str) -> None:
    """The link's keeper went to the card page: this payment is the link's (the latest one)."""
    PaymentLink.objects.filter(pk=link_pk, paid_at__isnull=True).update(payment_reference=payment_reference)


def links_for_case(case_reference: str) -> list[tuple[PaymentLink, LinkState]]:
    return [(link, state_of(link)) for link in PaymentLink.objects.filter(case_reference=case_reference)]
