"""Everything that happened to a payment, in one list, with who or what caused each entry:
its creation, every state it moved to (and whether the keeper's return, the re-checker or
a webhook moved it), each webhook received, each delivery attempt to ECS and its outcome,
the receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from penaltypay.ecs.models import DeliveryAttempt, OutboxEvent
from penaltypay.kernel.money import format_pence
from penaltypay.payments.models import Payment, PaymentEvent, Refund, WebhookMessage
from penaltypay.payments.refund_rules import RefundStatus

SOURCES = {
    "create": "penaltypay, creating it at the provider",
    "return": "the keeper's browser coming back from the provider",
    "recheck": "the background re-checker",
    "webhook": "a webhook from the provider",
    "resume": "the keeper starting again",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    what: str
    by: str


def timeline(payment: Payment) -> list[Entry]:
    by_whom = payment.created_by or ("the keeper online" if payment.channel == Payment.CHANNEL_ONLINE else "staff")
    entries = [
        Entry(payment.created_at, f"Payment of {payment.amount_pence} pence created ({payment.channel})", by_whom)
    ]
    for event in PaymentEvent.objects.filter(payment=payment):
        entries.append(
            Entry(event.at, f"Status {event.from_status} → {event.to_status}", SOURCES.get(event.source, event.source))
        )
    if payment.provider_payment_id:
        for message in WebhookMessage.objects.filter(resource_id=payment.provider_payment_id):
            entries.append(Entry(message.received_at, f"Webhook received: {message.event_type}", "the provider"))
    for queued in OutboxEvent.objects.filter(payment_reference=payment.reference):
        what = "payment" if queued.kind == OutboxEvent.KIND_PAYMENT else f"refund {queued.refund_reference}"
        entries.append(Entry(queued.created_at, f"Queued for ECS: {what}", "penaltypay"))
        for attempt in DeliveryAttempt.objects.filter(event=queued):
            entries.append(
                Entry(
                    attempt.at,
                    f"ECS delivery: {attempt.outcome} ({attempt.detail})",
                    f"the outbox worker {attempt.worker}".strip(),
                )
            )
        if queued.handled_at:
            done = "resolved without sending" if queued.status == OutboxEvent.RESOLVED else "re-queued"
            entries.append(Entry(queued.handled_at, f"ECS exception {done}: {queued.handling_note}", queued.handled_by))
    if payment.receipt_sent_at:
        entries.append(Entry(payment.receipt_sent_at, "Receipt email sent", "penaltypay"))
    entries.extend(_refund_entries(payment))
    return sorted(entries, key=lambda entry: entry.at)


def _refund_entries(payment: Payment) -> list[Entry]:
    entries = []
    for refund in Refund.objects.filter(payment=payment):
        name = f"Refund {refund.reference} of {format_pence(refund.amount_pence)}"
        entries.append(Entry(refund.requested_at, f"{name} requested ({refund.reason})", refund.requested_by))
        if refund.decided_at:
            verb = "rejected" if refund.status == RefundStatus.REJECTED.value else "approved"
            entries.append(Entry(refund.decided_at, f"{name} {verb}", refund.decided_by))
        if refund.submitted_at:
            entries.append(Entry(refund.submitted_at, f"{name} sent to the provider", "penaltypay"))
        if refund.finished_at and refund.status != RefundStatus.REJECTED.value:
            entries.append(Entry(refund.finished_at, f"{name}: {refund.status}", "the provider"))
        if refund.email_sent_at:
            entries.append(Entry(refund.email_sent_at, f"{name}: email to the keeper sent", "penaltypay"))
    return entries
