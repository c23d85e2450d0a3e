"""Figures over time for the reports: money by period, channel and case type; the outbox
backlog and new exceptions per day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from penaltypay.ecs import deliveries
from penaltypay.kernel.clock import LONDON
from penaltypay.payments.figures import refunds_paid_back_between, successful_payments_between

TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


@dataclass(frozen=True)
class MoneyRow:
    period: date
    channel: str
    case_type: str
    payments: int
    paid_pence: int
    refunds: int
    refunded_pence: int


def money_by_period(period: str, start: datetime, end: datetime) -> list[MoneyRow]:
    trunc = TRUNC[period]
    paid = (
        successful_payments_between(start, end)
        .annotate(period=trunc("created_at", tzinfo=LONDON))
        .values("period", "channel", "case_type")
        .annotate(n=Count("id"), pence=Sum("amount_pence"))
    )
    refunded = (
        refunds_paid_back_between(start, end)
        .annotate(period=trunc("finished_at", tzinfo=LONDON))
        .values("period", "payment__channel", "payment__case_type")
        .annotate(n=Count("id"), pence=Sum("amount_pence"))
    )
    rows: dict[tuple, list[int]] = {}
    for row in paid:
        key = (_as_date(row["period"]), row["channel"], row["case_type"])
        rows.setdefault(key, [0, 0, 0, 0])[0:2] = [row["n"], int(row["pence"] or 0)]
    for refund_row in refunded:
        key = (_as_date(refund_row["period"]), refund_row["payment__channel"], refund_row["payment__case_type"])
        rows.setdefault(key, [0, 0, 0, 0])[2:4] = [refund_row["n"], int(refund_row["pence"] or 0)]
    return [MoneyRow(*key, *values) for key, values in sorted(rows.items())]


def _as_date(value: datetime | date) -> date:
    return value.astimezone(LONDON).date() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class OutboxDay:
    day: date
    waiting_at_end: int  # not in ECS at the end of the day (exceptions included)
    new_exceptions: int


def outbox_by_day(first: date, last: date) -> list[OutboxDay]:
    days = []
    day = first
    while day <= last:
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=LONDON)
        start = end - timedelta(days=1)
        waiting = deliveries.not_in_ecs_at(end)
        exceptions = deliveries.exceptions_raised_between(start, end)
        days.append(OutboxDay(day, waiting, exceptions))
        day += timedelta(days=1)
    return days
