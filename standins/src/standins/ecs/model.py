"""What the simulated ECS holds: cases, ledger lines, its fault codes and its rules.

The simulator is the *other* system: it keeps its own reading of the ICD here
(its own `Case`, its own amount-due rule) and imports nothing from penaltypay,
so penaltypay's tests against it are not marking their own homework.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")

# Case statuses (WSDL CaseStatus) and the case types ECS takes payments for here.
OPEN = "OPEN"
PART_PAID = "PART_PAID"
PAID = "PAID"
DEBT_RECOVERY = "DEBT_RECOVERY"
COURT = "COURT"
NO_PAYMENT_REQUIRED = "NO_PAYMENT_REQUIRED"
CASE_STATUSES = (OPEN, PART_PAID, PAID, DEBT_RECOVERY, COURT, NO_PAYMENT_REQUIRED)
PAYABLE_CASE_TYPES = ("7A", "29KK", "144A")


@dataclass(frozen=True)
class Case:
    """One case as ECS stores it (the WSDL's `Case`). Money in pence."""

    reference: str
    case_type: str
    vrm: str
    vehicle_make: str
    vehicle_colour: str
    issue_date: date
    penalty_pence: int
    reduced_penalty_pence: int
    reduction_deadline: date | None
    arrears_pence: int
    arrears_from: date | None
    arrears_to: date | None
    pay_by_date: date
    status: str
    amount_paid_pence: int
    last_updated: datetime | None = None

    @classmethod
    def like(cls, other: Any) -> Case:
        """A Case from any object with the same attributes (a test's own case type)."""
        if isinstance(other, cls):
            return other
        return cls(**{f.name: getattr(other, f.name) for f in fields(cls)})


# Fault codes of the WSDL's EcsFault, and which side of the wire each blames
# (SOAP 1.1 faultcode soap:Client = "do not resend as is", soap:Server = "our problem").
CASE_NOT_FOUND = "CASE_NOT_FOUND"
VRM_MISMATCH = "VRM_MISMATCH"
CASE_CLOSED = "CASE_CLOSED"
CASE_TYPE_NOT_SUPPORTED = "CASE_TYPE_NOT_SUPPORTED"
VALIDATION_ERROR = "VALIDATION_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"
FAULT_CODES = (
    CASE_NOT_FOUND,
    VRM_MISMATCH,
    CASE_CLOSED,
    CASE_TYPE_NOT_SUPPORTED,
    VALIDATION_ERROR,
    SERVICE_UNAVAILABLE,
    INTERNAL_ERROR,
)
SERVER_SIDE_CODES = {SERVICE_UNAVAILABLE, INTERNAL_ERROR}

CLOSED_STATUSES = (NO_PAYMENT_REQUIRED, DEBT_RECOVERY, COURT)
# Statuses ECS derives from the ledger; the closed ones are set by ECS's own
# processes (escalation, cancellation) and a ledger write never changes them.
_LEDGER_DRIVEN_STATUSES = (OPEN, PART_PAID, PAID)
WRITE_OPERATIONS = ("RecordPayment", "RecordRefund")
OPERATIONS = ("GetCase", "GetCaseLedger") + WRITE_OPERATIONS


def london_today() -> date:
    return datetime.now(LONDON).date()


class SimFault(Exception):
    """A business outcome the simulator answers as an EcsFault SOAP fault."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- ledger lines and the rules ECS applies to them ------------------------


@dataclass(frozen=True)
class SimLedgerEntry:
    """One ledger line as the simulator stores it (PspReference is kept for inspection only)."""

    receipt_number: str
    kind: str  # PAYMENT | REFUND
    payment_reference: str
    refund_reference: str | None
    amount_pence: int
    effective_at: datetime
    channel: str
    recorded_at: datetime
    psp_reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt_number": self.receipt_number,
            "kind": self.kind,
            "payment_reference": self.payment_reference,
            "refund_reference": self.refund_reference,
            "amount_pence": self.amount_pence,
            "effective_at": self.effective_at.isoformat(),
            "channel": self.channel,
            "recorded_at": self.recorded_at.isoformat(),
            "psp_reference": self.psp_reference,
        }


def amount_due_before_payments(case: Case, at: datetime) -> int:
    """The ICD's amount due at `at`, before subtracting what was paid.

    The reduced amount applies up to and including ReductionDeadline, compared
    as a Europe/London calendar date (a payment at 23:30 BST on the deadline is
    on time even though it is already the next day in UTC).
    """
    on_time = case.reduction_deadline is not None and at.astimezone(LONDON).date() <= case.reduction_deadline
    penalty = case.reduced_penalty_pence if on_time else case.penalty_pence
    return penalty + case.arrears_pence


def settle_from_ledger(case: Case, entries: list[SimLedgerEntry]) -> tuple[int, str]:
    """(AmountPaidPence, Status) implied by the ledger.

    "What was due" is judged at the moment of the most recent payment still in
    the ledger: that is the payment that did or did not complete the case.
    Closed statuses (court, debt recovery, no payment required) are ECS's own
    decisions and a ledger write never reopens or closes them.
    """
    paid = sum(e.amount_pence for e in entries if e.kind == "PAYMENT")
    paid -= sum(e.amount_pence for e in entries if e.kind == "REFUND")
    paid = max(paid, 0)
    if case.status not in _LEDGER_DRIVEN_STATUSES:
        return paid, case.status
    payments = [e for e in entries if e.kind == "PAYMENT"]
    if paid == 0 or not payments:
        return paid, OPEN
    latest = max(payments, key=lambda e: e.effective_at)
    return paid, (PAID if paid >= amount_due_before_payments(case, latest.effective_at) else PART_PAID)


def validate_case(case: Case) -> None:
    """Reject a case ECS itself could never hold (raises ValueError)."""
    if not re.fullmatch(r"[0-9]{8}", case.reference or ""):
        raise ValueError("reference must be 8 digits")
    if not re.fullmatch(r"[0-9A-Z]{1,4}", case.case_type or ""):
        raise ValueError("case_type must be 1-4 upper-case letters or digits")
    if not re.fullmatch(r"[A-Z0-9]{1,7}", case.vrm or ""):
        raise ValueError("vrm must be 1-7 upper-case letters or digits, no spaces")
    if case.status not in CASE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CASE_STATUSES)}")
    for name in ("penalty_pence", "reduced_penalty_pence", "arrears_pence", "amount_paid_pence"):
        value = getattr(case, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 99_999_999:
            raise ValueError(f"{name} must be a whole number of pence between 0 and 99999999")
    if case.reduced_penalty_pence > case.penalty_pence:
        raise ValueError("reduced_penalty_pence must not exceed penalty_pence")
    if (case.reduction_deadline is None) != (case.reduced_penalty_pence == case.penalty_pence):
        raise ValueError("a reduction (reduced < penalty) needs a reduction_deadline, and only then")
    if (case.arrears_from is None) != (case.arrears_to is None):
        raise ValueError("arrears_from and arrears_to go together")
    if case.last_updated is not None and case.last_updated.tzinfo is None:
        raise ValueError("last_updated must be timezone-aware")


# --- JSON for the control API ---------------------------------------------

_DATE_FIELDS = {"issue_date", "reduction_deadline", "arrears_from", "arrears_to", "pay_by_date"}


def case_to_json(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(Case):
        value = getattr(case, f.name)
        out[f.name] = value.isoformat() if isinstance(value, (date, datetime)) else value
    return out


def case_from_json(data: Any) -> Case:
    """A Case from the control API's JSON. Sensible defaults for what a test rarely cares about."""
    if not isinstance(data, dict):
        raise ValueError("each case must be a JSON object")
    known = {f.name for f in fields(Case)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown case field(s): {', '.join(unknown)}")
    required = (
        "reference",
        "case_type",
        "vrm",
        "vehicle_make",
        "vehicle_colour",
        "issue_date",
        "penalty_pence",
        "pay_by_date",
    )
    missing = [name for name in required if data.get(name) in (None, "")]
    if missing:
        raise ValueError(f"case is missing: {', '.join(missing)}")
    values = dict(data)
    values.setdefault("reduced_penalty_pence", values["penalty_pence"])
    values.setdefault("arrears_pence", 0)
    values.setdefault("status", OPEN)
    values.setdefault("amount_paid_pence", 0)
    for name in ("reduction_deadline", "arrears_from", "arrears_to", "last_updated"):
        values.setdefault(name, None)
    for name in _DATE_FIELDS:
        if values[name] is not None:
            try:
                values[name] = date.fromisoformat(values[name])
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a date YYYY-MM-DD") from None
    if values["last_updated"] is not None:
        try:
            values["last_updated"] = datetime.fromisoformat(values["last_updated"])
        except (TypeError, ValueError):
            raise ValueError("last_updated must be an ISO 8601 date-time with an offset") from None
    for name in ("reference", "case_type", "vrm", "vehicle_make", "vehicle_colour", "status"):
        if not isinstance(values[name], str):
            raise ValueError(f"{name} must be a string")
    case = Case(**values)
    validate_case(case)
    return case
