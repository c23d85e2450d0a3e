"""The exceptions queue: everything about money that needs a person, oldest first, each
with what happened, since when, the money, and what can be done about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from penaltypay.ecs import deliveries
from penaltypay.exceptions.models import OverpaymentReview
from penaltypay.exceptions.overpayments import overpayments
from penaltypay.payments import figures
from penaltypay.payments.refunds import resolve_failed_refund

if TYPE_CHECKING:
    from penaltypay.payments.models import Refund
from penaltypay.payments.refund_rules import OFFLINE_METHODS, RefundStatus
from penaltypay.reconciliation.models import ReconciliationItem, ReconciliationRun
from penaltypay.reconciliation.rules import Class
from penaltypay.web.formats import long_date_time

ECS_REFUSED = "ecs-refused"
STUCK = "stuck"
OVERPAID = "overpaid"
REFUND_FAILED = "refund-failed"
NOT_RECORDED = "not-recorded"
REFUND_UNKNOWN = "refund-unknown"
DISPUTED = "disputed"
REFUND_OFFLINE = "refund-offline"
KINDS = {
    ECS_REFUSED: "ECS refused it",
    STUCK: "Not reaching ECS",
    OVERPAID: "Paid more than was due",
    REFUND_FAILED: "Refund failed",
    NOT_RECORDED: "Taken but not recorded",
    REFUND_UNKNOWN: "Refund outcome unknown",
    DISPUTED: "Disputed by the payer's bank",
    REFUND_OFFLINE: "Refund paid another way: to approve",
}

# What a person can do about an item (the staff pages turn these into buttons).
REFUND = "refund"
RETRY = "retry"
RESOLVE = "resolve"
ADOPT = "adopt"  # a refund whose outcome is unknown: "that one at the provider is this one"
EVIDENCE_SENT = "evidence-sent"  # a dispute: finance answered the provider's dispute form
PAID_ANOTHER_WAY = "paid-another-way"  # a refund the provider could not make, paid by transfer or cheque
APPROVE = "approve"  # a second finance user agrees it was paid another way
REJECT = "reject"


class NothingToResolve(Exception):
    """The item has gone (dealt with by someone else) or was never open."""


@dataclass(frozen=True)
class Item:
    kind: str
    key: str  # stable: the same exception keeps its key
    since: datetime
    what: str
    money_pence: int
    case_reference: str
    payment_reference: str = ""
    refund_reference: str = ""
    outbox_event: int | None = None
    actions: tuple[str, ...] = field(default=())
    choices: tuple[str, ...] = field(default=())  # the provider's refund ids a person picks from
    by: str = ""  # who recorded what now waits for a second person (never the one to approve it)

    @property
    def kind_name(self) -> str:
        return KINDS[self.kind]


def stuck_after() -> timedelta:
    return timedelta(minutes=settings.EXCEPTION_STUCK_AFTER_MINUTES)


def _outbox_items(now: datetime) -> list[Item]:
    items = []
    for event in deliveries.exceptions():
        refundable = not event.is_refund
        assert event.created_at is not None
        items.append(
            Item(
                ECS_REFUSED,
                f"{ECS_REFUSED}:{event.id}",
                event.sent_at or event.next_attempt_at or event.created_at,
                f"{event.kind.lower()} {event.ledger_reference}: "
                + "; ".join(part for part in (event.exception_reason, event.last_error) if part),
                event.amount_pence,
                event.case_reference,
                event.payment_reference,
                event.refund_reference,
                event.id,
                (REFUND, RETRY, RESOLVE) if refundable else (RETRY, RESOLVE),
            )
        )
    for event in deliveries.waiting_since(now - stuck_after()):
        assert event.created_at is not None
        waited = int((now - event.created_at).total_seconds() // 60)
        items.append(
            Item(
                STUCK,
                f"{STUCK}:{event.id}",
                event.created_at,
                f"{event.kind.lower()} {event.ledger_reference} waiting {waited} minutes"
                + (f" (last error: {event.last_error})" if event.last_error else ""),
                event.amount_pence,
                event.case_reference,
                event.payment_reference,
                event.refund_reference,
                event.id,
                (RETRY,),
            )
        )
    return items


def _refund_items() -> list[Item]:
    failed = figures.refunds_failed_unresolved()
    items = [
        Item(
            REFUND_FAILED,
            f"{REFUND_FAILED}:{refund.reference}",
            refund.finished_at or refund.updated_at,
            f"refund {refund.reference} {refund.status}: {refund.failure_reason}",
            refund.amount_pence,
            refund.case_reference or refund.payment.first_case_reference,
            refund.payment.reference,
            refund.reference,
            None,
            # The provider could not make it (error): it may be paid another way instead.
            (REFUND, PAID_ANOTHER_WAY, RESOLVE) if refund.state is RefundStatus.ERROR else (REFUND, RESOLVE),
        )
        for refund in failed
    ]
    waiting = figures.refunds_in_status(RefundStatus.OFFLINE_REQUESTED)
    items += [
        Item(
            REFUND_OFFLINE,
            f"{REFUND_OFFLINE}:{refund.reference}",
            refund.updated_at,
            f"refund {refund.reference} paid another way by {refund.offline_by}: "
            f"{OFFLINE_METHODS.get(refund.offline_method, refund.offline_method)} {refund.offline_reference}; "
            "another finance user must approve it",
            refund.amount_pence,
            refund.case_reference or refund.payment.first_case_reference,
            refund.payment.reference,
            refund.reference,
            None,
            (APPROVE, REJECT),
            by=refund.offline_by,
        )
        for refund in waiting
    ]
    return items


def _unknown_refund_items() -> list[Item]:
    """Refunds asked for whose answer was lost, while the provider holds refunds we did not
    record: only a person, looking at the provider's console, can say which is which."""
    unknown = figures.refunds_in_status(RefundStatus.UNKNOWN)
    return [
        Item(
            REFUND_UNKNOWN,
            f"{REFUND_UNKNOWN}:{refund.reference}",
            refund.updated_at,
            f"refund {refund.reference}: {refund.failure_reason}",
            refund.amount_pence,
            refund.case_reference or refund.payment.first_case_reference,
            refund.payment.reference,
            refund.reference,
            None,
            (ADOPT, RETRY),
            tuple(part.strip() for part in refund.failure_reason.rsplit(":", 1)[-1].split(",") if part.strip()),
        )
        for refund in unknown
    ]


def _dispute_items() -> list[Item]:
    """Disputes still being decided, soonest evidence deadline first in the wording: the
    evidence pack is on the payment page; finance notes here when the evidence went."""
    found = figures.disputes_open()
    items = []
    for dispute in found:
        due = f"evidence due {long_date_time(dispute.evidence_due_at)}" if dispute.evidence_due_at else "no due date"
        sent = (
            f"; evidence sent by {dispute.evidence_sent_by} ({dispute.evidence_note})"
            if dispute.evidence_sent_at
            else "; no evidence sent yet"
        )
        items.append(
            Item(
                DISPUTED,
                f"{DISPUTED}:{dispute.provider_dispute_id}",
                dispute.raised_at,
                f"dispute {dispute.provider_dispute_id} ({dispute.status.replace('_', ' ')}, "
                f"reason: {dispute.reason.replace('_', ' ') or 'not given'}): {due}{sent}",
                dispute.amount_pence,
                dispute.payment.first_case_reference,
                dispute.payment.reference,
                dispute.provider_dispute_id,
                None,
                (EVIDENCE_SENT,),
            )
        )
    return items


def _overpayment_items(now: datetime) -> list[Item]:
    reviewed = set(OverpaymentReview.objects.values_list("case_reference", "excess_pence"))
    return [
        Item(
            OVERPAID,
            f"{OVERPAID}:{found.case_reference}:{found.excess_pence}",
            found.since,
            f"paid {found.paid_pence / 100:.2f} pounds, {found.due_pence / 100:.2f} was due",
            found.excess_pence,
            found.case_reference,
            found.latest_payment,
            "",
            None,
            (REFUND, RESOLVE),
        )
        for found in overpayments(now)
        if (found.case_reference, found.excess_pence) not in reviewed
    ]


def _unrecorded_items() -> list[Item]:
    """Money the provider took that we never recorded, as the latest run of each day found it."""
    latest = ReconciliationRun.objects.values("day").annotate(latest=Max("id")).values_list("latest", flat=True)
    found = ReconciliationItem.objects.filter(
        run_id__in=list(latest), cls=Class.MISSING_IN_PENALTYPAY.value, resolved_at__isnull=True
    ).select_related("run")
    return [
        Item(
            NOT_RECORDED,
            f"{NOT_RECORDED}:{item.key}",
            item.run.finished_at or item.run.started_at,
            f"the provider took it on {item.run.day:%-d %B %Y} ({item.detail}); we hold no record",
            abs(item.provider_pence),
            item.case_reference,
            "",
            "",
            None,
            (RESOLVE,),
        )
        for item in found
    ]


def open_exceptions(now: datetime | None = None, kind: str = "") -> list[Item]:
    now = now or timezone.now()
    items = (
        _outbox_items(now)
        + _refund_items()
        + _unknown_refund_items()
        + _dispute_items()
        + _overpayment_items(now)
        + _unrecorded_items()
    )
    if kind:
        items = [item for item in items if item.kind == kind]
    return sorted(items, key=lambda item: (item.since, item.key))


def counts(items: list[Item]) -> dict[str, int]:
    return {kind: sum(1 for item in items if item.kind == kind) for kind in KINDS}


def resolve_refund_failure(refund_reference: str, *, by: str, note: str) -> Refund:
    resolved = resolve_failed_refund(refund_reference, by=by, note=note)
    if resolved is None:
        raise NothingToResolve("This refund is not a failure waiting for a person")
    return resolved


def resolve_unrecorded(key: str, *, by: str, note: str) -> int:
    """A person dealt with money taken that we never recorded (every run that found it)."""
    done = ReconciliationItem.objects.filter(
        key=key, cls=Class.MISSING_IN_PENALTYPAY.value, resolved_at__isnull=True
    ).update(resolved_by=by, resolved_at=timezone.now(), resolution_note=note.strip()[:500])
    if not done:
        raise NothingToResolve("This item is not waiting for a person")
    return done


def review_overpayment(case_reference: str, excess_pence: int, *, by: str, note: str) -> OverpaymentReview:
    try:
        with transaction.atomic():
            return OverpaymentReview.objects.create(
                case_reference=case_reference,
                excess_pence=excess_pence,
                resolved_by=by,
                resolved_at=timezone.now(),
                note=note[:500],
            )
    except IntegrityError:
        raise NothingToResolve("Someone has already dealt with this over-payment") from None
