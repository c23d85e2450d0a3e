"""Over-payments: a case that has been paid more than was due (two people paid the same
penalty; a payment by another route reached ECS first). Worked out for a batch of cases
in a few queries, so the queue can look at every recently paid case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from penaltypay.cases.domain import owed_in_all_at
from penaltypay.cases.store import case_records
from penaltypay.payments.queries import (
    first_paid_of_cases_paid_since,
    held_against_many,
    latest_successful_payment_of_case,
)
from penaltypay.payments.refund_rules import excess_pence

LOOKBACK = timedelta(days=90)


@dataclass(frozen=True)
class Overpayment:
    case_reference: str
    excess_pence: int
    paid_pence: int
    due_pence: int
    since: datetime
    latest_payment: str  # the payment to refund the excess from


def overpayments(now: datetime) -> list[Overpayment]:
    first_paid = first_paid_of_cases_paid_since(now - LOOKBACK)
    held = held_against_many(first_paid)
    found = []
    for record in case_records(first_paid):
        paid = held[record.reference].paid_in_all(record.amount_paid_pence)
        # Due as it was when the case was first paid: a reduced amount paid in time stays enough.
        due = owed_in_all_at(record.to_case(), first_paid[record.reference])
        excess = excess_pence(due, paid)
        if excess:
            latest = latest_successful_payment_of_case(record.reference)
            assert latest is not None
            found.append(
                Overpayment(
                    record.reference, excess, paid, due, latest.finished_at or latest.created_at, latest.reference
                )
            )
    return found
