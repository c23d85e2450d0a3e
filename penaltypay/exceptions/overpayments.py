"""Over-payments: a case that has been paid more than was due (two people paid the same
penalty; a payment by another route reached ECS first). Worked out for a batch of cases
in a few queries, so the queue can look at every recently paid case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Min

from penaltypay.cases.domain import amount_due_at
from penaltypay.cases.models import CaseRecord
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, PaymentLine
from penaltypay.payments.queries import held_against_many
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
    lines = PaymentLine.objects.filter(payment__status=PaymentStatus.SUCCESS.value)  # a basket's every penalty
    recent = lines.filter(payment__created_at__gte=now - LOOKBACK).values_list("case_reference", flat=True).distinct()
    taken = {
        row["case_reference"]: row
        for row in lines.filter(case_reference__in=recent)
        .values("case_reference")
        .annotate(first=Min("payment__authorised_at"), first_created=Min("payment__created_at"))
    }
    held = held_against_many(taken)
    found = []
    for record in CaseRecord.objects.filter(reference__in=list(taken)):
        row = taken[record.reference]
        # What ECS will hold once everything on its way arrives, less refunds already asked for.
        case_held = held[record.reference]
        paid = record.amount_paid_pence + case_held.pending_pence - case_held.refunding_pence
        first_paid_at = row["first"] or row["first_created"]
        case = record.to_case()
        due = amount_due_at(case, first_paid_at).penalty_pence + case.arrears_pence
        excess = excess_pence(due, paid)
        if excess:
            latest = (
                Payment.objects.filter(lines__case_reference=record.reference, status=PaymentStatus.SUCCESS.value)
                .order_by("-created_at")
                .first()
            )
            assert latest is not None
            found.append(
                Overpayment(
                    record.reference, excess, paid, due, latest.finished_at or latest.created_at, latest.reference
                )
            )
    return found
