"""The payments app's personal data, as the retention policy (penaltypay.operations.retention)
finds and removes it: money records are never deleted, only their personal fields blanked."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from penaltypay.ecs import deliveries
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, PaymentLine, PaymentLink, Refund, WebhookMessage
from penaltypay.payments.ports import OPEN_DISPUTE_STATUSES
from penaltypay.payments.queries import penalties_of


def settled_payments_finished_before(cut: datetime) -> QuerySet[Payment]:
    """Receipt email addresses, once the payment is finished, settled with ECS (in its
    ledger, or resolved as never going there — refused and refunded, say), has no refund in
    progress, and finished before `cut`."""
    open_refunds = Refund.objects.filter(finished_at__isnull=True).values("payment_id")
    success = PaymentStatus.SUCCESS.value
    return (
        Payment.objects.filter(finished_at__lt=cut)
        .filter(
            Q(status=success, ecs_recorded_at__isnull=False)
            | Q(status=success, reference__in=deliveries.payments_never_to_ecs())
            | ~Q(status=success)
        )
        .exclude(email="", description__startswith="Penalty ")
        .exclude(pk__in=open_refunds)
        # A dispute being decided may need the receipt's address as evidence.
        .exclude(disputes__status__in=sorted(OPEN_DISPUTE_STATUSES))
    )


def blank_payments(pks: list) -> None:
    for payment in Payment.objects.filter(pk__in=pks).only("pk"):
        # The description named the vehicle; the references are enough for the accounts.
        paid = penalties_of(payment)
        named = f"Penalty {paid[0]}" if len(paid) == 1 else f"Penalty {paid[0]} and {len(paid) - 1} more"
        Payment.objects.filter(pk=payment.pk).update(email="", description=named)
        PaymentLine.objects.filter(payment_id=payment.pk).update(vrm="")  # a basket's vehicles too


def webhook_messages_before(cut: datetime) -> QuerySet[WebhookMessage]:
    return WebhookMessage.objects.filter(received_at__lt=cut)


def payment_links_expired_before(cut: datetime) -> QuerySet[PaymentLink]:
    """Where a payment link was sent: kept while it can be used, and a while after."""
    return PaymentLink.objects.filter(expires_at__lt=cut).exclude(email="", mobile="")


def blank_payment_links(pks: list) -> None:
    PaymentLink.objects.filter(pk__in=pks).update(email="", mobile="")
