"""What ECS has of our money events, and what happened on the way: the one read of the
outbox for the rest of the service (an import contract keeps `penaltypay.ecs.models` inside
this app). Payments, refunds, reconciliation, exceptions, reports, the back office and the
API ask here; they never query the outbox themselves."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from django.db.models import Q, QuerySet

from penaltypay.ecs.models import DeliveryAttempt, OutboxEvent

PAYMENT = OutboxEvent.KIND_PAYMENT
REFUND = OutboxEvent.KIND_REFUND


class DeliveryStatus(str, Enum):
    NOT_QUEUED = "not_queued"  # nothing was ever queued for ECS
    QUEUED = "queued"  # on its way (maybe waiting for a retry or an earlier event)
    SENT = "sent"  # in ECS's ledger
    EXCEPTION = "exception"  # stopped: a person must act
    RESOLVED = "resolved"  # a person dealt with it outside ECS: it will never be sent


_STATUS = {
    OutboxEvent.PENDING: DeliveryStatus.QUEUED,
    OutboxEvent.SENT: DeliveryStatus.SENT,
    OutboxEvent.EXCEPTION: DeliveryStatus.EXCEPTION,
    OutboxEvent.RESOLVED: DeliveryStatus.RESOLVED,
}


@dataclass(frozen=True)
class Attempt:
    at: datetime
    outcome: str
    detail: str
    worker: str


@dataclass(frozen=True)
class Delivery:
    """One money event on its way to ECS (or not queued at all: `id` 0)."""

    id: int
    kind: str
    case_reference: str
    payment_reference: str
    refund_reference: str
    amount_pence: int
    status: DeliveryStatus
    created_at: datetime | None = None
    sent_at: datetime | None = None
    attempts: int = 0
    last_error: str = ""
    exception_reason: str = ""
    handled_at: datetime | None = None
    handled_by: str = ""
    handling_note: str = ""
    next_attempt_at: datetime | None = None

    @property
    def pk(self) -> int:
        return self.id

    @property
    def in_ecs(self) -> bool:
        return self.status is DeliveryStatus.SENT

    @property
    def never_to_ecs(self) -> bool:
        """Resolved by a person without sending: ECS will never hold it."""
        return self.status is DeliveryStatus.RESOLVED

    @property
    def ledger_reference(self) -> str:
        return self.refund_reference if self.kind == REFUND else self.payment_reference

    @property
    def is_refund(self) -> bool:
        return self.kind == REFUND


def _delivery(event: OutboxEvent) -> Delivery:
    return Delivery(
        id=event.pk,
        kind=event.kind,
        case_reference=event.case_reference,
        payment_reference=event.payment_reference,
        refund_reference=event.refund_reference,
        amount_pence=event.amount_pence,
        status=_STATUS.get(event.status, DeliveryStatus.QUEUED),
        created_at=event.created_at,
        sent_at=event.sent_at,
        attempts=event.attempts,
        last_error=event.last_error,
        exception_reason=event.exception_reason,
        handled_at=event.handled_at,
        handled_by=event.handled_by,
        handling_note=event.handling_note,
        next_attempt_at=event.next_attempt_at,
    )


def _not_queued(kind: str, payment_reference: str, refund_reference: str = "") -> Delivery:
    return Delivery(0, kind, "", payment_reference, refund_reference, 0, DeliveryStatus.NOT_QUEUED)


def delivery_of_payment(payment_reference: str, case_reference: str = "") -> Delivery:
    """A payment's delivery: its line for `case_reference`, or (a basket's several lines)
    the one furthest from done."""
    events = OutboxEvent.objects.filter(kind=PAYMENT, payment_reference=payment_reference)
    if case_reference:
        events = events.filter(case_reference=case_reference)
    found = [_delivery(e) for e in events.order_by("id")]
    return _least_done(found) if found else _not_queued(PAYMENT, payment_reference)


# How far from done each status is: a payment is as far as its least delivered line.
_DISTANCE = {
    DeliveryStatus.EXCEPTION: 0,
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.NOT_QUEUED: 2,
    DeliveryStatus.RESOLVED: 3,
    DeliveryStatus.SENT: 4,
}


def _least_done(found: list[Delivery]) -> Delivery:
    return min(found, key=lambda d: (_DISTANCE[d.status], d.id))


def deliveries_of_payments(references: Iterable[str]) -> dict[str, Delivery]:
    """Each payment reference's delivery (those never queued are absent); a basket's is its
    least delivered line's."""
    by_reference: dict[str, list[Delivery]] = {}
    for e in OutboxEvent.objects.filter(kind=PAYMENT, payment_reference__in=list(references)).order_by("id"):
        by_reference.setdefault(e.payment_reference, []).append(_delivery(e))
    return {reference: _least_done(found) for reference, found in by_reference.items()}


def deliveries_of_payment_lines(references: Iterable[str]) -> dict[tuple[str, str], Delivery]:
    """Each line's delivery, by (payment reference, case reference)."""
    return {
        (e.payment_reference, e.case_reference): _delivery(e)
        for e in OutboxEvent.objects.filter(kind=PAYMENT, payment_reference__in=list(references))
    }


def deliveries_of_refunds(references: Iterable[str]) -> dict[str, Delivery]:
    wanted = list(references)
    return {
        e.refund_reference: _delivery(e) for e in OutboxEvent.objects.filter(kind=REFUND, refund_reference__in=wanted)
    }


def deliveries_for_payment(payment_reference: str) -> list[Delivery]:
    """The payment's event and its refunds', in the order ECS gets them."""
    return [_delivery(e) for e in OutboxEvent.objects.filter(payment_reference=payment_reference).order_by("id")]


def refunds_for_case(case_reference: str) -> list[Delivery]:
    return [_delivery(e) for e in OutboxEvent.objects.filter(case_reference=case_reference, kind=REFUND).order_by("id")]


def attempts_of(delivery: Delivery) -> list[Attempt]:
    return [Attempt(a.at, a.outcome, a.detail, a.worker) for a in DeliveryAttempt.objects.filter(event_id=delivery.id)]


def delivery_by_id(event_id: int) -> Delivery | None:
    event = OutboxEvent.objects.filter(pk=event_id).first()
    return _delivery(event) if event else None


def exceptions(limit: int | None = None) -> list[Delivery]:
    """Events stopped for a person, oldest first."""
    found = OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION).order_by("id")
    return [_delivery(e) for e in (found[:limit] if limit else found)]


def recently_handled(limit: int = 20) -> list[Delivery]:
    return [_delivery(e) for e in OutboxEvent.objects.exclude(handled_at=None).order_by("-handled_at")[:limit]]


def waiting_since(cut: datetime) -> list[Delivery]:
    """Events still on their way that were queued at or before `cut`, oldest first."""
    found = OutboxEvent.objects.filter(status=OutboxEvent.PENDING, created_at__lte=cut).order_by("id")
    return [_delivery(e) for e in found]


def queued_references(kind: str) -> set[str]:
    """Every payment (or refund) reference ever queued for ECS, whatever became of it."""
    column = "refund_reference" if kind == REFUND else "payment_reference"
    return set(OutboxEvent.objects.filter(kind=kind).values_list(column, flat=True))


def payments_never_to_ecs() -> QuerySet:
    """References of payments a person resolved as never going to ECS (a subquery)."""
    return OutboxEvent.objects.filter(kind=PAYMENT, status=OutboxEvent.RESOLVED).values_list(
        "payment_reference", flat=True
    )


def queued_payment_amounts() -> dict[str, int]:
    """What is sent to ECS per payment reference (a basket's lines together)."""
    totals: dict[str, int] = {}
    for reference, amount in OutboxEvent.objects.filter(kind=PAYMENT).values_list("payment_reference", "amount_pence"):
        totals[reference] = totals.get(reference, 0) + amount
    return totals


def payment_references_queued() -> set[str]:
    """Payment references of every event, payments' and refunds' alike."""
    return set(OutboxEvent.objects.values_list("payment_reference", flat=True))


def not_in_ecs_at(moment: datetime) -> int:
    """How many events were waiting (exceptions included) at `moment`."""
    return (
        OutboxEvent.objects.filter(created_at__lt=moment)
        .filter(Q(sent_at__isnull=True) | Q(sent_at__gte=moment))
        .exclude(status=OutboxEvent.RESOLVED, handled_at__lt=moment)
        .count()
    )


def exceptions_raised_between(start: datetime, end: datetime) -> int:
    return DeliveryAttempt.objects.filter(outcome=DeliveryAttempt.EXCEPTION, at__gte=start, at__lt=end).count()
