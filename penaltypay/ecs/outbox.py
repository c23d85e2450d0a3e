"""Putting money events in the outbox, and reading its backlog.

`enqueue_*` must be called inside the transaction that records the money event
(the payment's move to success, a refund's success), so that either both are
stored or neither is. Nothing here calls ECS: the worker does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from penaltypay.ecs.models import EcsBreaker, OutboxEvent


def enqueue_payment(*, case_reference: str, payment_reference: str, amount_pence: int, paid_at: datetime,
                    channel: str, psp_reference: str) -> OutboxEvent:
    _require_transaction()
    now = timezone.now()
    return OutboxEvent.objects.create(
        case_reference=case_reference, kind=OutboxEvent.KIND_PAYMENT, payment_reference=payment_reference,
        amount_pence=amount_pence, effective_at=paid_at, channel=channel, psp_reference=psp_reference,
        next_attempt_at=now, created_at=now,
    )


def enqueue_refund(*, case_reference: str, payment_reference: str, refund_reference: str, amount_pence: int,
                   refunded_at: datetime) -> OutboxEvent:
    _require_transaction()
    now = timezone.now()
    return OutboxEvent.objects.create(
        case_reference=case_reference, kind=OutboxEvent.KIND_REFUND, payment_reference=payment_reference,
        refund_reference=refund_reference, amount_pence=amount_pence, effective_at=refunded_at,
        next_attempt_at=now, created_at=now,
    )


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
