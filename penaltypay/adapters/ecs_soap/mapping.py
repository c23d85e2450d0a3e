"""Mapping zeep's objects to ours: tz-aware datetimes, integer pence, `Case`, ledger lines.
Anything that does not fit raises (TypeError/ValueError), which the client reports as an
unknown outcome."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from penaltypay.cases.domain import Case
from penaltypay.ecs.ports import LedgerEntry, WriteReceipt
from penaltypay.kernel.clock import LONDON


def _aware(value: datetime) -> datetime:
    """A tz-aware datetime in UTC. ECS omitting the offset means London wall-clock time."""
    if not isinstance(value, datetime):
        raise TypeError("expected a dateTime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(UTC)


def _date(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError("expected a date")
    return value


def _optional_date(value: Any) -> date | None:
    return None if value is None else _date(value)


def _pence(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected whole pence")
    return value


def case_from(result: Any) -> Case:
    # zeep unwraps GetCaseResponse to its only child, the Case; accept the wrapper too.
    case = getattr(result, "Case", None) or result
    return Case(
        reference=str(case.CaseReference),
        case_type=str(case.CaseType),
        vrm=str(case.VehicleRegistrationMark),
        vehicle_make=str(case.VehicleMake or ""),
        vehicle_colour=str(case.VehicleColour or ""),
        issue_date=_date(case.IssueDate),
        penalty_pence=_pence(case.PenaltyAmountPence),
        reduced_penalty_pence=_pence(case.ReducedPenaltyAmountPence),
        reduction_deadline=_optional_date(case.ReductionDeadline),
        arrears_pence=_pence(case.ArrearsAmountPence),
        arrears_from=_optional_date(case.ArrearsFrom),
        arrears_to=_optional_date(case.ArrearsTo),
        pay_by_date=_date(case.PayByDate),
        status=str(case.Status),
        amount_paid_pence=_pence(case.AmountPaidPence),
        last_updated=_aware(case.LastUpdated),
    )


def ledger_from(result: Any) -> list[LedgerEntry]:
    # zeep unwraps GetCaseLedgerResponse to the list of Entry ([] when empty); accept the wrapper too.
    if result is None:
        entries: list[Any] = []
    elif isinstance(result, list):
        entries = result
    else:
        entries = list(getattr(result, "Entry", None) or [])
    return [
        LedgerEntry(
            receipt_number=str(entry.ReceiptNumber),
            kind=str(entry.Kind),
            payment_reference=str(entry.PaymentReference),
            refund_reference=None if entry.RefundReference is None else str(entry.RefundReference),
            amount_pence=_pence(entry.AmountPence),
            effective_at=_aware(entry.EffectiveAt),
            channel=str(entry.Channel),
            recorded_at=_aware(entry.RecordedAt),
        )
        for entry in entries
    ]


def receipt_from(result: Any) -> WriteReceipt:
    if result is None or not result.ReceiptNumber or not result.CaseStatus:
        raise ValueError("no receipt in the response")
    return WriteReceipt(receipt_number=str(result.ReceiptNumber), case_status=str(result.CaseStatus))
