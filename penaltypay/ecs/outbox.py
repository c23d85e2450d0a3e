"""Putting money events in the outbox, and reading its backlog.

`enqueue_*` must be called inside the transaction that records the money event
(the payment's move to success, a refund's success), so that either both are
stored or neither is. Nothing here calls ECS: the worker does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from penaltypay.ecs.models import EcsBreaker, OutboxEvent
from penaltypay.kernel.security_events import OUTBOX_EXCEPTION_HANDLED, security_event


def enqueue_payment(
    *,
    case_reference: str,
    payment_reference: str,
    amount_pence: int,
    paid_at: datetime,
    channel: str,
    psp_reference: str,
    request_id: str = "",
) -> OutboxEvent:
    _require_transaction()
    now = timezone.now()
    return OutboxEvent.objects.create(
        request_id=request_id,
        case_reference=case_reference,
        kind=OutboxEvent.KIND_PAYMENT,
        payment_reference=payment_reference,
        amount_pence=amount_pence,
        effective_at=paid_at,
        channel=channel,
        psp_reference=psp_reference,
        next_attempt_at=now,
        created_at=now,
    )


def enqueue_refund(
    *,
    case_reference: str,
    payment_reference: str,
    refund_reference: str,
    amount_pence: int,
    refunded_at: datetime,
    request_id: str = "",
) -> OutboxEvent:
    _require_transaction()
    now = timezone.now()
    return OutboxEvent.objects.create(
        request_id=request_id,
        case_reference=case_reference,
        kind=OutboxEvent.KIND_REFUND,
        payment_reference=payment_reference,
        refund_reference=refund_reference,
        amount_pence=amount_pence,
        effective_at=refunded_at,
        next_attempt_at=now,
        created_at=now,
    )


class NotAnException(Exception):
    """Only an event in `exception` can be resolved or re-queued."""


def _handle_exception(event_id: int, *, by: str, note: str, to_status: str) -> OutboxEvent:
    if not by.strip() or not note.strip():
        raise ValueError("say who you are and why (both are kept with the event)")
    now = timezone.now()
    fields = {
        "status": to_status,
        "handled_by": by.strip()[:100],
        "handled_at": now,
        "handling_note": note.strip()[:500],
    }
    if to_status == OutboxEvent.PENDING:
        # outcome_unknown is left as it is: it makes the worker read the ledger before writing.
        fields.update(next_attempt_at=now, lease_owner="", lease_expires_at=None)
    with transaction.atomic():
        if OutboxEvent.objects.filter(pk=event_id, status=OutboxEvent.EXCEPTION).update(**fields) != 1:
            raise NotAnException(f"outbox event {event_id} is not an exception")
        event = OutboxEvent.objects.get(pk=event_id)
        if to_status == OutboxEvent.RESOLVED and event.kind == OutboxEvent.KIND_PAYMENT:
            # ECS never gets this payment, so it must never get a refund of it either.
            OutboxEvent.objects.filter(
                kind=OutboxEvent.KIND_REFUND,
                payment_reference=event.payment_reference,
                status__in=[OutboxEvent.PENDING, OutboxEvent.EXCEPTION],
            ).update(
                status=OutboxEvent.RESOLVED,
                handled_by=fields["handled_by"],
                handled_at=now,
                handling_note=f"its payment was resolved without reaching ECS (event {event_id})",
            )
    # The note stays in the database: free text may name the keeper, and logs never do.
    security_event(
        OUTBOX_EXCEPTION_HANDLED,
        level=logging.INFO,
        action="requeue" if to_status == OutboxEvent.PENDING else "resolve",
        outbox_event=event_id,
        case_reference=event.case_reference,
        by=event.handled_by,
    )
    return event


def resolve_exception(event_id: int, *, by: str, note: str) -> OutboxEvent:
    """Dealt with outside this service (e.g. the keeper was refunded): never sent to ECS,
    and no longer holds the events behind it on its case."""
    return _handle_exception(event_id, by=by, note=note, to_status=OutboxEvent.RESOLVED)


def requeue_exception(event_id: int, *, by: str, note: str) -> OutboxEvent:
    """Send it again (after a fix, or once ECS has corrected its record)."""
    return _handle_exception(event_id, by=by, note=note, to_status=OutboxEvent.PENDING)


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an outbox event must be written in the same transaction as its money event")


@dataclass(frozen=True)
class Backlog:
    waiting: int  # events not yet in the ECS ledger (excluding exceptions)
    oldest_waiting_seconds: float  # age of the oldest of them; 0 when none
    exceptions: int  # events stopped for a person
    blocked_by_exception: int  # waiting events held behind an exception on the same case
    breaker_state: str
    sent_total: int

    def as_dict(self) -> dict:
        return dict(vars(self))


def backlog(now: datetime | None = None) -> Backlog:
    now = now or timezone.now()
    pending = OutboxEvent.objects.filter(status=OutboxEvent.PENDING)
    oldest = pending.order_by("created_at").values_list("created_at", flat=True).first()
    exception_cases = OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION).values("case_reference")
    breaker = EcsBreaker.objects.filter(name="ecs").values_list("state", flat=True).first() or "closed"
    return Backlog(
        waiting=pending.count(),
        oldest_waiting_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        exceptions=OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION).count(),
        blocked_by_exception=pending.filter(case_reference__in=exception_cases).count(),
        breaker_state=breaker,
        sent_total=OutboxEvent.objects.filter(status=OutboxEvent.SENT).count(),
    )


def send_now(event_id: int, *, by: str) -> OutboxEvent:
    """A waiting event is tried at once (after a fix), instead of at its back-off time."""
    if OutboxEvent.objects.filter(pk=event_id, status=OutboxEvent.PENDING).update(next_attempt_at=timezone.now()) != 1:
        raise NotAnException(f"outbox event {event_id} is not waiting to be sent")
    security_event(OUTBOX_EXCEPTION_HANDLED, level=logging.INFO, action="send-now", outbox_event=event_id, by=by)
    return OutboxEvent.objects.get(pk=event_id)
