"""Everything that happened to a payment, in one list, with who or what caused each entry:
its creation, every state it moved to (and whether the keeper's return, the re-checker or
a webhook moved it), each webhook received, each delivery attempt to ECS and its outcome,
the receipt, refunds and disputes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from penaltypay.ecs import deliveries
from penaltypay.kernel.money import format_pence
from penaltypay.payments import records
from penaltypay.payments.domain import CHANNEL_ONLINE

if TYPE_CHECKING:
    from penaltypay.payments.models import Payment

SOURCES = {
    "create": "penaltypay, creating it at the provider",
    "return": "the keeper's browser coming back from the provider",
    "recheck": "the background re-checker",
    "webhook": "a webhook from the provider",
    "resume": "the keeper starting again",
    "reconcile": "the daily reconciliation",
    "dispute": "the dispute search (the provider reported a dispute on it)",
}


@dataclass(frozen=True)
class Entry:
    at: datetime
    what: str
    by: str


def timeline(payment: Payment) -> list[Entry]:
    by_whom = payment.created_by or ("the keeper online" if payment.channel == CHANNEL_ONLINE else "staff")
    entries = [
        Entry(payment.created_at, f"Payment of {payment.amount_pence} pence created ({payment.channel})", by_whom)
    ]
    for event in records.events_of(payment):
        entries.append(
            Entry(event.at, f"Status {event.from_status} → {event.to_status}", SOURCES.get(event.source, event.source))
        )
    if payment.provider_payment_id:
        for message in records.webhooks_about(payment):
            entries.append(Entry(message.received_at, f"Webhook received: {message.event_type}", "the provider"))
    for queued in deliveries.deliveries_for_payment(payment.reference):
        what = f"refund {queued.refund_reference}" if queued.is_refund else "payment"
        assert queued.created_at is not None  # a queued event always has its time
        entries.append(Entry(queued.created_at, f"Queued for ECS: {what}", "penaltypay"))
        for attempt in deliveries.attempts_of(queued):
            entries.append(
                Entry(
                    attempt.at,
                    f"ECS delivery: {attempt.outcome} ({attempt.detail})",
                    f"the outbox worker {attempt.worker}".strip(),
                )
            )
        if queued.handled_at:
            done = "resolved without sending" if queued.never_to_ecs else "re-queued"
            entries.append(Entry(queued.handled_at, f"ECS exception {done}: {queued.handling_note}", queued.handled_by))
    if payment.receipt_sent_at:
        entries.append(Entry(payment.receipt_sent_at, "Receipt email sent", "penaltypay"))
    entries.extend(_refund_entries(payment))
    entries.extend(_dispute_entries(payment))
    return sorted(entries, key=lambda entry: entry.at)


DISPUTE_MOVES = {
    "needs_response": "the payer's bank disputes the payment: evidence is needed",
    "under_review": "the bank is reviewing the evidence",
    "won": "won: the money stays with us",
    "lost": "lost: the bank took the money back; ECS is told the penalty is due again",
}


def _dispute_entries(payment: Payment) -> list[Entry]:
    entries = []
    for dispute in records.disputes_of(payment).prefetch_related("events"):
        name = f"Dispute {dispute.provider_dispute_id} of {format_pence(dispute.amount_pence)}"
        for event in dispute.events.all():
            if event.source == "person":
                entries.append(Entry(event.at, f"{name}: {event.note}", event.by))
                continue
            how = "the provider's dispute search" if event.source == "search" else "a webhook, then the search"
            entries.append(Entry(event.at, f"{name}: {DISPUTE_MOVES.get(event.to_status, event.to_status)}", how))
    return entries


# What a refund's move means on the timeline, by the status it moved to (and who moved it).
REFUND_MOVES = {
    "requested": "requested",
    "rejected": "rejected",
    "submitting": "approved",
    "submitted": "sent to the provider",
    "success": "the money went back",
    "error": "the provider could not make it, no money moved",
    "refused": "the provider refused it",
    "unknown": "a person must check the provider",
    "offline_requested": "recorded as paid another way, waiting for a second person",
    "paid_offline": "paid another way, approved",
}
ENDINGS = ("success", "error", "refused", "unknown", "paid_offline")


def _refund_entries(payment: Payment) -> list[Entry]:
    """From each refund's own history (every move, with who or what made it)."""
    entries = []
    for refund in records.refunds_of(payment).prefetch_related("events"):
        name = f"Refund {refund.reference} of {format_pence(refund.amount_pence)}"
        for event in refund.events.all():
            what = REFUND_MOVES.get(event.to_status, event.to_status)
            if event.to_status == "requested":
                what = f"requested ({refund.reason})"
            elif event.from_status == "unknown" and event.to_status == "submitting":
                what = "asked of the provider again"
            detail = f": {event.note}" if event.note and event.source != "decision" else ""
            by = event.by or ("the provider" if event.source in ("provider", "webhook") else "penaltypay")
            text = f"{name}: {event.to_status} ({what})" if event.to_status in ENDINGS else f"{name} {what}"
            entries.append(Entry(event.at, text + detail, by))
        if refund.email_sent_at:
            entries.append(Entry(refund.email_sent_at, f"{name}: email to the keeper sent", "penaltypay"))
    return entries
