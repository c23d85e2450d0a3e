"""One payment, refund or dispute and its story, as the pages and the API find them: other
apps ask here, never of penaltypay.payments.models (an import contract keeps it so)."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from penaltypay.payments.domain import CHANNEL_PHONE
from penaltypay.payments.models import (
    Dispute,
    Payment,
    PaymentEvent,
    PaymentLink,
    Refund,
    WebhookMessage,
)


def payment(reference: str) -> Payment | None:
    return Payment.objects.filter(reference=reference).first()


def payment_by_id(payment_id: object) -> Payment | None:
    """By its unguessable id (in return URLs); None for an id that is not one of ours or not an id at all."""
    try:
        return Payment.objects.filter(pk=uuid.UUID(str(payment_id))).first()
    except ValueError:
        return None


def phone_payment_by_id(payment_id: object) -> Payment | None:
    found = payment_by_id(payment_id)
    return found if found is not None and found.channel == CHANNEL_PHONE else None


def refund(reference: str) -> Refund | None:
    return Refund.objects.select_related("payment").filter(reference=reference).first()


def dispute(provider_dispute_id: str) -> Dispute | None:
    return Dispute.objects.select_related("payment").filter(provider_dispute_id=provider_dispute_id).first()


def refunds_of(paid: Payment) -> QuerySet[Refund]:
    """A payment's refunds, oldest first."""
    return Refund.objects.filter(payment=paid).order_by("requested_at", "pk")


def disputes_of(paid: Payment) -> QuerySet[Dispute]:
    return Dispute.objects.filter(payment=paid)


def events_of(paid: Payment) -> QuerySet[PaymentEvent]:
    return PaymentEvent.objects.filter(payment=paid)


def webhooks_about(paid: Payment) -> QuerySet[WebhookMessage]:
    return WebhookMessage.objects.filter(resource_id=paid.provider_payment_id)


def link_of(paid: Payment) -> PaymentLink | None:
    """The payment link the payment came from, if it did."""
    return PaymentLink.objects.filter(payment_reference=paid.reference).first()


def all_payments() -> QuerySet[Payment]:
    return Payment.objects.all()


def payments_made_before(horizon: datetime) -> QuerySet[Payment]:
    return Payment.objects.filter(created_at__lt=horizon)


def after_cursor(payments: QuerySet[Payment], at: datetime, reference: str) -> QuerySet[Payment]:
    """The payments after (`at`, `reference`) in the order (created_at, reference)."""
    return payments.filter(Q(created_at__gt=at) | Q(created_at=at, reference__gt=reference))
