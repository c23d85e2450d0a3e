"""When a reminder goes, and whether it still should (plain Python: no Django)."""

from __future__ import annotations

from datetime import date, timedelta
from enum import Enum

from penaltypay.cases.domain import AmountDue, NotPayableReason


class Verdict(str, Enum):
    SEND = "sent"
    PAID = "paid"  # nothing left to pay: the keeper paid (here, by phone, by post)
    CLOSED = "closed"  # court, debt recovery, no payment required, not payable online
    NOT_REDUCED = "not-reduced"  # the reduced amount no longer applies (or never did)


def send_on(reduction_deadline: date, days_before: int) -> date:
    """The Europe/London calendar day the reminder goes: `days_before` days before the last
    day of the reduced amount."""
    return reduction_deadline - timedelta(days=days_before)


def verdict(reason: NotPayableReason | None, due: AmountDue) -> Verdict:
    """From the case as ECS has it now (and money we hold), what the reminder does."""
    if reason in (NotPayableReason.ALREADY_PAID, NotPayableReason.NOTHING_DUE):
        return Verdict.PAID
    if reason is not None:
        return Verdict.CLOSED
    if not due.reduced:
        return Verdict.NOT_REDUCED
    return Verdict.SEND
