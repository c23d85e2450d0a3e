"""What the rest of the service learns when the outbox worker has put a money event in
the ECS ledger. The worker command wires `record_delivered` in as the delivery engine's
`on_delivered` hook (the ecs app knows nothing of payments or cases)."""

from __future__ import annotations

from penaltypay.cases.store import apply_ecs_write
from penaltypay.ecs.deliveries import PAYMENT
from penaltypay.ecs.outbox_worker import Delivered
from penaltypay.payments.models import Dispute, Payment, PaymentLine, Refund


def record_delivered(delivered: Delivered) -> None:
    """Called inside the transaction that marks the event sent."""
    if delivered.kind == PAYMENT:
        # The line for this case; the payment once every line of it is in ECS.
        PaymentLine.objects.filter(
            payment__reference=delivered.payment_reference, case_reference=delivered.case_reference
        ).update(ecs_recorded_at=delivered.at)
        waiting = PaymentLine.objects.filter(
            payment__reference=delivered.payment_reference, ecs_recorded_at__isnull=True
        ).exists()
        if not waiting:
            Payment.objects.filter(reference=delivered.payment_reference).update(ecs_recorded_at=delivered.at)
        apply_ecs_write(delivered.case_reference, delivered.amount_pence, delivered.case_status)
    else:
        # A refund, or a lost dispute (its id is the RefundReference).
        Refund.objects.filter(reference=delivered.refund_reference).update(ecs_recorded_at=delivered.at)
        Dispute.objects.filter(provider_dispute_id=delivered.refund_reference).update(ecs_recorded_at=delivered.at)
        apply_ecs_write(delivered.case_reference, -delivered.amount_pence, delivered.case_status)
