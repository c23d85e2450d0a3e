"""Rules about a penalty case: what is due at a moment, and whether it can be paid online.

Plain Python, no Django: the citizen views, the back office and the worker all
call these functions, so a rule lives here once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum

from penaltypay.kernel.clock import LONDON, london_date

# Case types payable through this service; any other code is "not payable online".
PAYABLE_CASE_TYPES = ("7A", "29KK", "144A")

# ECS case statuses (WSDL CaseStatus).
OPEN = "OPEN"
PART_PAID = "PART_PAID"
PAID = "PAID"
DEBT_RECOVERY = "DEBT_RECOVERY"
COURT = "COURT"
NO_PAYMENT_REQUIRED = "NO_PAYMENT_REQUIRED"
CASE_STATUSES = (OPEN, PART_PAID, PAID, DEBT_RECOVERY, COURT, NO_PAYMENT_REQUIRED)


@dataclass(frozen=True)
class Case:
    """One enforcement case as ECS describes it (the WSDL's `Case`). Money in pence."""

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


@dataclass(frozen=True)
class AmountDue:
    """What the keeper owes at one moment, with the parts the page shows."""

    penalty_pence: int  # the penalty part: reduced or full
    reduced: bool  # True when the reduced amount applies at this moment
    arrears_pence: int
    already_paid_pence: int
    total_pence: int  # never below zero

    @property
    def nothing_due(self) -> bool:
        return self.total_pence == 0


def amount_due_at(case: Case, at: datetime, pending_paid_pence: int = 0) -> AmountDue:
    """The ICD rule: (reduced if deadline present and date(at) <= deadline else penalty)
    + arrears - paid, never below zero.

    `pending_paid_pence` is money penaltypay has taken that ECS's `AmountPaidPence`
    does not show yet (delivery to ECS is asynchronous); counting it stops a keeper
    paying twice while ECS catches up.
    """
    reduced = case.reduction_deadline is not None and london_date(at) <= case.reduction_deadline
    penalty = case.reduced_penalty_pence if reduced else case.penalty_pence
    paid = case.amount_paid_pence + pending_paid_pence
    total = max(0, penalty + case.arrears_pence - paid)
    return AmountDue(
        penalty_pence=penalty,
        reduced=reduced,
        arrears_pence=case.arrears_pence,
        already_paid_pence=paid,
        total_pence=total,
    )


def owed_in_all_at(case: Case, at: datetime) -> int:
    """What the case asked for in all at `at` (the penalty, reduced or not, and arrears),
    before anything paid: money paid beyond it is an over-payment."""
    due = amount_due_at(case, at)
    return due.penalty_pence + due.arrears_pence


def amount_due_after_reduction(case: Case, at: datetime, pending_paid_pence: int = 0) -> AmountDue:
    """What will be due once the reduction deadline has passed ("or £80 after"); with no
    reduction, what is due at `at`."""
    if case.reduction_deadline is None:
        return amount_due_at(case, at, pending_paid_pence)
    day_after = datetime.combine(case.reduction_deadline + timedelta(days=1), time(12), tzinfo=LONDON)
    return amount_due_at(case, day_after, pending_paid_pence)


class NotPayableReason(str, Enum):
    """Why a case cannot be paid here; each has its own page telling the keeper what to do."""

    ALREADY_PAID = "already-paid"
    DEBT_RECOVERY = "debt-recovery"
    COURT = "court"
    NO_PAYMENT_REQUIRED = "no-payment-required"
    TYPE_NOT_PAYABLE_ONLINE = "not-payable-online"
    NOTHING_DUE = "nothing-due"


def why_not_payable(case: Case, at: datetime, pending_paid_pence: int = 0) -> NotPayableReason | None:
    """None when the case can be paid online now, else the reason it cannot.

    Order matters: a closed status explains more than 'nothing due' does.
    """
    if case.status == DEBT_RECOVERY:
        return NotPayableReason.DEBT_RECOVERY
    if case.status == COURT:
        return NotPayableReason.COURT
    if case.status == NO_PAYMENT_REQUIRED:
        return NotPayableReason.NO_PAYMENT_REQUIRED
    if case.case_type not in PAYABLE_CASE_TYPES:
        return NotPayableReason.TYPE_NOT_PAYABLE_ONLINE
    due = amount_due_at(case, at, pending_paid_pence)
    if due.nothing_due:
        if case.status == PAID or due.already_paid_pence > 0:
            return NotPayableReason.ALREADY_PAID
        return NotPayableReason.NOTHING_DUE
    return None


CASE_TYPE_NAMES = {
    "7A": "late licensing penalty",
    "29KK": "out-of-court settlement",
    "144A": "uninsured vehicle penalty",
}

_REFERENCE_SEPARATORS = re.compile(r"[\s\-]+")
_VRM_SPACES = re.compile(r"\s+")
_REFERENCE = re.compile(r"[0-9]{8}")
_VRM = re.compile(r"[A-Z0-9]{1,7}")


def normalise_reference(raw: str) -> str:
    """Remove the spaces and hyphens a keeper may type ('1234 5678', '1234-5678')."""
    return _REFERENCE_SEPARATORS.sub("", raw or "")


def is_valid_reference(reference: str) -> bool:
    return bool(_REFERENCE.fullmatch(reference))


def normalise_vrm(raw: str) -> str:
    """Upper case, no spaces: 'ab12 cde' -> 'AB12CDE'."""
    return _VRM_SPACES.sub("", raw or "").upper()


def is_valid_vrm(vrm: str) -> bool:
    return bool(_VRM.fullmatch(vrm))
