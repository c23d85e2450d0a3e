"""The four KPIs of the GOV.UK Service Standard, from our own records, each with the
definition shown beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from penaltypay.payments.domain import CHANNEL_ONLINE
from penaltypay.payments.figures import disputes_lost_between, successful_payments_between
from penaltypay.payments.queries import paid_within
from penaltypay.reporting.models import Feedback, Lookup


@dataclass(frozen=True)
class Kpi:
    name: str
    value: float | None  # None when there is nothing to measure yet
    unit: str  # "percent" | "pence"
    numerator: int
    denominator: int
    definition: str

    @property
    def shown(self) -> str:
        if self.value is None:
            return "Not enough data"
        if self.unit == "percent":
            return f"{self.value:.1f}%"
        pounds = self.value / 100
        return f"£{pounds:,.2f}"


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def completion_rate(start: datetime, end: datetime) -> Kpi:
    payable = Lookup.objects.filter(at__gte=start, at__lt=end, payable=True)
    total = payable.count()
    # Paid alone or in a basket: each penalty a basket paid completes its own look-up.
    completed = payable.filter(paid_within("case_reference", "at", timedelta(hours=24))).count()
    return Kpi(
        "Completion rate",
        _percent(completed, total),
        "percent",
        completed,
        total,
        "Look-ups that found a penalty the keeper could pay, followed by a successful payment for that "
        "penalty within 24 hours.",
    )


def digital_take_up(start: datetime, end: datetime) -> Kpi:
    paid = successful_payments_between(start, end)
    total = paid.count()
    online = paid.filter(channel=CHANNEL_ONLINE).count()
    return Kpi(
        "Digital take-up",
        _percent(online, total),
        "percent",
        online,
        total,
        "Successful payments made online, out of all successful payments (online and by phone).",
    )


def cost_per_transaction(start: datetime, end: datetime) -> Kpi:
    paid = successful_payments_between(start, end)
    fees = paid.aggregate(transactions=Count("pk"), known=Count("fee_pence"), charged=Coalesce(Sum("fee_pence"), 0))
    transactions = fees["transactions"]
    # The provider's real fee where it has told us; an estimate for payments not settled yet.
    estimated = settings.KPI_PROVIDER_FEE_PENCE * (transactions - fees["known"])
    dispute_fees = disputes_lost_between(start, end).aggregate(total=Coalesce(Sum("fee_pence"), 0))["total"]
    months = (end - start).total_seconds() / (86400 * 365.25 / 12)
    cost = fees["charged"] + estimated + dispute_fees + settings.KPI_MONTHLY_RUNNING_COST_PENCE * months
    return Kpi(
        "Cost per transaction",
        None if not transactions else cost / transactions,
        "pence",
        round(cost),
        transactions,
        "The provider's fees for the period's successful payments (its real fee where it has reported one, "
        "KPI_PROVIDER_FEE_PENCE where not yet) and for disputes lost in the period, plus the service's monthly "
        "running cost (KPI_MONTHLY_RUNNING_COST_PENCE), divided by the successful payments.",
    )


def user_satisfaction(start: datetime, end: datetime) -> Kpi:
    given = Feedback.objects.filter(at__gte=start, at__lt=end)
    total = given.count()
    satisfied = given.filter(rating__gte=4).count()
    return Kpi(
        "User satisfaction",
        _percent(satisfied, total),
        "percent",
        satisfied,
        total,
        "Keepers who answered 'satisfied' or 'very satisfied' on the feedback page, out of all who answered.",
    )


def all_kpis(start: datetime, end: datetime) -> list[Kpi]:
    return [
        completion_rate(start, end),
        digital_take_up(start, end),
        cost_per_transaction(start, end),
        user_satisfaction(start, end),
    ]
