"""The sandbox's optional state file: payments survive a restart, as a real provider's do."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime

from standins.pay.model import DISPUTE_STATUSES, PAYMENT_STATUSES, Dispute, Payment, Refund

log = logging.getLogger("standins.pay")


# --- the state file --------------------------------------------------------
#
# One JSON document: {"format", "version", "next_seq", "payments": [...]}. Times are
# full-precision ISO 8601 with their offset. Card-page tokens are left out (a new
# read of the payment issues a fresh link); card numbers and security codes are
# never in a payment to begin with.

STATE_FORMAT = "penaltypay-sandbox-provider-state"
STATE_VERSION = 1


class StateLock:
    """The sandbox's one re-entrant lock. When its outermost holder lets go after a
    change to the saved state, `on_release` writes the state file first, still
    under the lock, so every change (however it was reached) is saved in order."""

    def __init__(self, on_release):
        self._lock = threading.RLock()
        self._depth = 0  # only ever touched by the thread holding the lock
        self._on_release = on_release

    def __enter__(self):
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc_info):
        try:
            if self._depth == 1:
                self._on_release()
        finally:
            self._depth -= 1
            self._lock.release()
        return False


def time_to_state(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time_from_state(value, what: str, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{what} has no UTC offset")
    return moment


def _expect(record: dict, name: str, kind: type, what: str, *, optional: bool = False):
    value = record.get(name)
    if value is None and optional:
        return None
    # (true and false are ints to isinstance, but not amounts or sequence numbers)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what}: {name} is missing or has the wrong type")
    return value


def payment_to_state(payment: Payment) -> dict:
    return {
        "payment_id": payment.payment_id,
        "seq": payment.seq,
        "amount": payment.amount,
        "reference": payment.reference,
        "description": payment.description,
        "return_url": payment.return_url,
        "language": payment.language,
        "email": payment.email,
        "moto": payment.moto,
        "metadata": payment.metadata,
        "created_at": time_to_state(payment.created_at),
        "status": payment.status,
        "code": payment.code,
        "message": payment.message,
        "provider_id": payment.provider_id,
        "card_details": payment.card_details,
        "three_d_secure_required": payment.three_d_secure_required,
        "captured_at": time_to_state(payment.captured_at),
        "events": [{"state": state, "at": time_to_state(at)} for state, at in payment.events],
        "refunds": [
            {
                "refund_id": refund.refund_id,
                "amount": refund.amount,
                "status": refund.status,
                "created_at": time_to_state(refund.created_at),
                "settled_on": _day_to_state(refund.settled_on),
            }
            for refund in payment.refunds
        ],
        "fee": payment.fee,
        "settled_on": _day_to_state(payment.settled_on),
        "dispute_plan": payment.dispute_plan,
        "disputes": [
            {
                "dispute_id": d.dispute_id,
                "amount": d.amount,
                "fee": d.fee,
                "reason": d.reason,
                "outcome": d.outcome,
                "created_at": time_to_state(d.created_at),
                "evidence_due": time_to_state(d.evidence_due),
                "status": d.status,
                "decided_at": time_to_state(d.decided_at),
                "settled_on": _day_to_state(d.settled_on),
            }
            for d in payment.disputes
        ],
    }


def _day_to_state(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _day_from_state(value, what: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 date")
    return date.fromisoformat(value)


def _dispute_from_state(record, what: str) -> Dispute:
    if not isinstance(record, dict):
        raise ValueError(f"{what}: a dispute is not a JSON object")
    status = _expect(record, "status", str, f"{what}: a dispute")
    if status not in DISPUTE_STATUSES:
        raise ValueError(f"{what}: a dispute has unknown status {status!r}")
    return Dispute(
        dispute_id=_expect(record, "dispute_id", str, f"{what}: a dispute"),
        amount=_expect(record, "amount", int, f"{what}: a dispute"),
        fee=_expect(record, "fee", int, f"{what}: a dispute"),
        reason=_expect(record, "reason", str, f"{what}: a dispute"),
        outcome=_expect(record, "outcome", str, f"{what}: a dispute"),
        created_at=_time_from_state(record.get("created_at"), f"{what}: a dispute's created_at"),
        evidence_due=_time_from_state(record.get("evidence_due"), f"{what}: a dispute's evidence_due"),
        status=status,
        decided_at=_time_from_state(record.get("decided_at"), f"{what}: a dispute's decided_at", optional=True),
        settled_on=_day_from_state(record.get("settled_on"), f"{what}: a dispute's settled_on"),
    )


def _payment_from_state(record) -> Payment:
    if not isinstance(record, dict):
        raise ValueError("a payment is not a JSON object")
    payment_id = _expect(record, "payment_id", str, "a payment")
    what = f"payment {payment_id}"
    status = _expect(record, "status", str, what)
    if status not in PAYMENT_STATUSES:
        raise ValueError(f"{what}: unknown status {status!r}")
    events = []
    for event in _expect(record, "events", list, what):
        if not isinstance(event, dict) or not isinstance(event.get("state"), dict):
            raise ValueError(f"{what}: an event has no state")
        events.append((event["state"], _time_from_state(event.get("at"), f"{what}: an event's time")))
    refunds = []
    for refund in _expect(record, "refunds", list, what):
        if not isinstance(refund, dict):
            raise ValueError(f"{what}: a refund is not a JSON object")
        refunds.append(
            Refund(
                refund_id=_expect(refund, "refund_id", str, f"{what}: a refund"),
                amount=_expect(refund, "amount", int, f"{what}: a refund"),
                status=_expect(refund, "status", str, f"{what}: a refund"),
                created_at=_time_from_state(refund.get("created_at"), f"{what}: a refund's created_at"),
                settled_on=_day_from_state(refund.get("settled_on"), f"{what}: a refund's settled_on"),
            )
        )
    return Payment(
        payment_id=payment_id,
        seq=_expect(record, "seq", int, what),
        amount=_expect(record, "amount", int, what),
        reference=_expect(record, "reference", str, what),
        description=_expect(record, "description", str, what),
        return_url=_expect(record, "return_url", str, what),
        language=_expect(record, "language", str, what),
        email=_expect(record, "email", str, what, optional=True),
        moto=_expect(record, "moto", bool, what),
        metadata=_expect(record, "metadata", dict, what, optional=True),
        created_at=_time_from_state(record.get("created_at"), f"{what}: created_at"),
        status=status,
        code=_expect(record, "code", str, what, optional=True),
        message=_expect(record, "message", str, what, optional=True),
        provider_id=_expect(record, "provider_id", str, what, optional=True),
        card_details=_expect(record, "card_details", dict, what, optional=True),
        captured_at=_time_from_state(record.get("captured_at"), f"{what}: captured_at", optional=True),
        events=events,
        refunds=refunds,
        three_d_secure_required=_expect(record, "three_d_secure_required", bool, what, optional=True),
        # Settlement and disputes came later: a state file from before has none.
        fee=_expect(record, "fee", int, what, optional=True),
        settled_on=_day_from_state(record.get("settled_on"), f"{what}: settled_on"),
        dispute_plan=_expect(record, "dispute_plan", str, what, optional=True),
        disputes=[_dispute_from_state(d, what) for d in _expect(record, "disputes", list, what, optional=True) or []],
    )


def state_from_document(document) -> tuple[dict[str, Payment], int]:
    """(payments by id, next sequence number) from a parsed state file; ValueError if it is not one."""
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise ValueError("not a sandbox provider state file")
    if document.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported state file version {document.get('version')!r} (expected {STATE_VERSION})")
    records = document.get("payments")
    if not isinstance(records, list):
        raise ValueError("payments is missing or not a list")
    payments: dict[str, Payment] = {}
    for record in records:
        payment = _payment_from_state(record)
        if payment.payment_id in payments:
            raise ValueError(f"payment {payment.payment_id} appears twice")
        payments[payment.payment_id] = payment
    next_seq = _expect(document, "next_seq", int, "the state file")
    next_seq = max([next_seq, *(p.seq + 1 for p in payments.values())])
    return payments, next_seq
