"""The four KPIs from our own records, and the reports finance reads."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from penaltypay.payments.models import Payment
from penaltypay.reporting.kpis import completion_rate, cost_per_transaction, digital_take_up, user_satisfaction
from penaltypay.reporting.models import Feedback, Lookup
from penaltypay.staff.roles import Role
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)


def window():
    now = timezone.now()
    return now - timedelta(days=1), now + timedelta(minutes=1)


def test_completion_rate_counts_payable_look_ups_paid_within_a_day(reduced_case, put_case, pay_online):
    other = put_case(reference="70000654", vrm="KP65ONE")
    pay_online(reduced_case)  # looked up, then paid
    find(Client(), other.reference, other.vrm)  # looked up, never paid
    assert Lookup.objects.filter(payable=True).count() == 2
    kpi = completion_rate(*window())
    assert (kpi.numerator, kpi.denominator, kpi.shown) == (1, 2, "50.0%")


def test_a_payment_more_than_a_day_later_does_not_complete_a_look_up(reduced_case, pay_online):
    payment = pay_online(reduced_case)
    Lookup.objects.update(at=payment.created_at - timedelta(hours=25))
    start, end = window()
    assert completion_rate(start - timedelta(days=2), end).numerator == 0


def test_digital_take_up_cost_and_satisfaction(db, settings):
    for channel in ("ONLINE", "ONLINE", "ONLINE", "PHONE"):
        Payment.objects.create(
            reference=f"PP-KPI-{Payment.objects.count()}",
            first_case_reference="70000001",
            case_type="7A",
            amount_pence=4000,
            description="x",
            status="success",
            channel=channel,
        )
    assert digital_take_up(*window()).shown == "75.0%"
    settings.KPI_PROVIDER_FEE_PENCE, settings.KPI_MONTHLY_RUNNING_COST_PENCE = 20, 0
    assert cost_per_transaction(*window()).shown == "£0.20"
    # The provider's own fees, once it reports them, replace the estimate.
    Payment.objects.filter(channel="PHONE").update(fee_pence=140)
    assert cost_per_transaction(*window()).shown == "£0.50"  # (20 + 20 + 20 + 140) / 4
    for rating in (5, 4, 2, 1):
        Feedback.objects.create(rating=rating)
    assert user_satisfaction(*window()).shown == "50.0%"
    empty = user_satisfaction(timezone.now() - timedelta(days=9), timezone.now() - timedelta(days=8))
    assert empty.shown == "Not enough data"


def test_finance_reads_charts_with_their_tables_and_downloads_the_figures(reduced_case, pay_online, staff_client):
    pay_online(reduced_case)
    finance = staff_client(Role.FINANCE)
    page = finance.get("/staff/reports").content.decode()
    assert '<svg role="img"' in page and '<title id="money-title">Money taken</title>' in page
    assert "Completion rate" in page and "Digital take-up" in page and "User satisfaction" in page
    assert "Cost per transaction" in page and "£40" in page
    monthly = finance.get("/staff/reports", {"period": "month"}).content.decode()
    assert "by month" in monthly
    response = finance.get("/staff/reports.csv", {"period": "day"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["channel"], r["case_type"], r["payments"], r["paid_pence"]) for r in rows] == [
        ("ONLINE", "7A", "1", "4000")
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "last week"}, "Enter a real date"),
        ({"date_from": "2026-11-20", "date_to": "2026-11-01"}, "The end date must be the same as or after"),
        ({"date_from": "2020-01-01", "date_to": "2026-11-01"}, "Choose at most 400 days"),
    ],
)
def test_bad_report_dates_get_an_error_summary(staff_client, params, message):
    response = staff_client(Role.FINANCE).get("/staff/reports", params)
    assert response.status_code == 200 and message in response.content.decode()
    assert "There is a problem" in response.content.decode()
