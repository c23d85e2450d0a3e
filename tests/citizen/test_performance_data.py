"""Open performance data (issue 36): /performance for anyone, in English and Welsh, and the
same figures as CSV and JSON — 52 weeks, each penalty type, nothing personal, and no count
from 1 to 9 ever shown (nor anything worked out from one)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.test import Client

from penaltypay.payments.models import Payment, PaymentLine
from penaltypay.reporting.models import Feedback, Lookup
from penaltypay.reporting.open_data import weeks_covered

pytestmark = pytest.mark.django_db

COUNT_FIELDS = ("penalties_paid", "refunds", "disputes_lost")


def paid(case_type: str, n: int, *, at, channel="ONLINE", link_sent_by="", fee=None, reference_base=70000000):
    for i in range(n):
        payment = Payment.objects.create(
            reference=f"PP-{case_type[:2]}{i:02d}-{channel[:4]}",
            first_case_reference=f"{reference_base + i:08d}",
            case_type=case_type,
            amount_pence=4000,
            description="penalty",
            status="success",
            channel=channel,
            link_sent_by=link_sent_by,
            fee_pence=fee,
        )
        Payment.objects.filter(pk=payment.pk).update(created_at=at)
        if not PaymentLine.objects.filter(payment=payment).exists():
            PaymentLine.objects.create(
                payment=payment,
                position=0,
                case_reference=f"{reference_base + i:08d}",
                case_type=case_type,
                amount_pence=4000,
                live=False,
            )
        look = Lookup.objects.create(case_reference=f"{reference_base + i:08d}", payable=True)
        Lookup.objects.filter(pk=look.pk).update(at=at - timedelta(minutes=12))


@pytest.fixture
def last_week():
    first, after = weeks_covered()
    return after - timedelta(weeks=1)


@pytest.fixture
def figures(last_week):
    from datetime import datetime, time

    from penaltypay.kernel.clock import LONDON

    at = datetime.combine(last_week + timedelta(days=2), time(11), tzinfo=LONDON)
    paid("7A", 12, at=at, fee=20)
    paid("7A", 3, at=at, channel="PHONE", reference_base=71000000)
    paid("29KK", 4, at=at, reference_base=29000000)  # too few to show
    unpaid = Lookup.objects.create(case_reference="70009999", payable=True)  # looked up, never paid
    Lookup.objects.filter(pk=unpaid.pk).update(at=at)
    for rating in (5, 5, 4, 4, 4, 5, 4, 4, 2, 1):
        feedback = Feedback.objects.create(rating=rating, comments="")
        Feedback.objects.filter(pk=feedback.pk).update(at=at)
    return last_week


def test_the_json_lists_52_weeks_of_every_penalty_type_with_the_documented_fields(figures):
    data = Client().get("/performance.json").json()
    assert data["licence"]["name"] == "Open Government Licence v3.0" and data["schema_version"] == 1
    assert len(data["weeks"]) == 52
    week = next(w for w in data["weeks"] if w["week_starting"] == figures.isoformat())
    types = {row["penalty_type"]: row for row in week["penalty_types"]}
    assert set(types) == {"7A", "29KK", "144A"}
    late = types["7A"]
    assert (
        late["penalties_paid"] == 15 and late["paid_online_percent"] == 80.0 and late["paid_by_phone_percent"] == 20.0
    )
    assert late["median_minutes_look_up_to_paid"] == 12.0 and late["provider_fee_per_payment_pence"] == 20.0
    assert week["user_satisfaction_percent"] == 80.0 and week["completion_rate_percent"] == 95.0  # 19 of 20
    # Four out-of-court settlements: not shown, nor their shares.
    assert types["29KK"]["penalties_paid"] is None and types["29KK"]["paid_online_percent"] is None
    assert "penalties_paid" in types["29KK"]["suppressed"]
    for each in data["weeks"]:
        for row in each["penalty_types"]:
            for name in COUNT_FIELDS:
                assert row[name] is None or row[name] == 0 or row[name] >= 10, (each["week_starting"], row)


def test_the_page_answers_anyone_in_english_and_welsh_and_the_csv_has_a_row_per_week_and_type(figures):
    english = Client().get("/performance")
    assert english.status_code == 200 and "Performance data" in english.content.decode()
    welsh = Client()
    welsh.get("/performance?lang=cy")
    page = welsh.get("/performance").content.decode()
    assert '<html lang="cy"' in page and "Data perfformiad" in page
    # The files are the same for everyone (any cache may keep them); the page is in the
    # reader's language, so no shared cache may hand it to someone else.
    assert "public" not in english.get("Cache-Control", "") and "public" not in welsh.get("/performance").get(
        "Cache-Control", ""
    )
    served = Client().get("/performance.csv")
    assert served["Cache-Control"] == "public, max-age=3600"
    rows = list(csv.DictReader(io.StringIO(served.content.decode())))
    assert len(rows) == 52 * 3
    assert {row["penalty_type"] for row in rows} == {"7A", "29KK", "144A"}
    assert not any("@" in value for row in rows for value in row.values())  # nothing personal


def test_the_figures_are_computed_once_an_hour_not_on_every_request(figures, django_assert_max_num_queries):
    Client().get("/performance.json")
    with django_assert_max_num_queries(3):  # the cached publication (and the session)
        Client().get("/performance.json")
