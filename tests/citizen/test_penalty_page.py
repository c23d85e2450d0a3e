"""The 'your penalty' page: amount due now, its parts, deadlines, and why a case cannot be paid."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from penaltypay.cases.domain import (
    COURT,
    DEBT_RECOVERY,
    NO_PAYMENT_REQUIRED,
    PAID,
    PART_PAID,
)
from penaltypay.web.formats import long_date as _london_date
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db


def show(client, case):
    assert find(client, case.reference, case.vrm).status_code == 302
    response = client.get("/your-penalty")
    assert response.status_code == 200
    return response.content.decode()


def test_reduced_amount_with_its_deadline_and_the_full_amount_after(client, reduced_case):
    page = show(client, reduced_case)
    deadline = _london_date(reduced_case.reduction_deadline)
    assert f"Pay £40 by {deadline}, or £80 after that date." in page
    assert "Reduced penalty" in page
    assert _london_date(reduced_case.pay_by_date) in page


def test_after_the_deadline_the_full_penalty_is_due(client, put_case, today):
    case = put_case(reference="70000002", reduction_deadline=today - timedelta(days=1))
    page = show(client, case)
    assert "You need to pay £80" in page
    assert "or £80 after" not in page


def test_arrears_are_shown_with_their_period(client, put_case):
    case = put_case(
        reference="29000009",
        case_type="29KK",
        vrm="KX19ABC",
        penalty_pence=15375,
        reduced_penalty_pence=15375,
        reduction_deadline=None,
        arrears_pence=8250,
        arrears_from=date(2026, 5, 1),
        arrears_to=date(2026, 10, 31),
    )
    page = show(client, case)
    assert "You need to pay £236.25" in page
    assert "Out-of-court settlement" in page
    assert "Vehicle tax owed" in page and "£82.50" in page
    assert '<span class="govuk-body-s">1 May 2026 to 31 October 2026</span>' in page
    assert "&lt;" not in page  # our own markup is never shown as text


def test_part_paid_case_shows_what_was_paid_and_the_rest(client, put_case):
    case = put_case(
        reference="14400003",
        case_type="144A",
        penalty_pence=10000,
        reduced_penalty_pence=5000,
        status=PART_PAID,
        amount_paid_pence=2000,
    )
    page = show(client, case)
    assert "Already paid" in page and "£20" in page
    assert "You need to pay £30" in page
    assert "Uninsured vehicle penalty" in page


@pytest.mark.parametrize(
    "overrides,heading,advice",
    [
        (
            {"status": PAID, "amount_paid_pence": 4000},
            "This penalty has already been paid",
            "do not need to do anything",
        ),
        ({"status": DEBT_RECOVERY}, "You cannot pay this penalty online", "debt recovery"),
        ({"status": COURT}, "You cannot pay this penalty online", "court"),
        ({"status": NO_PAYMENT_REQUIRED}, "You do not need to pay this penalty", "cancelled or withdrawn"),
        ({"case_type": "23B"}, "You cannot pay this penalty online", "cannot be paid using this service"),
        (
            {"penalty_pence": 0, "reduced_penalty_pence": 0, "reduction_deadline": None},
            "There is nothing to pay",
            "no amount due",
        ),
    ],
)
def test_cases_that_cannot_be_paid_here_say_why_and_what_to_do(client, put_case, overrides, heading, advice):
    case = put_case(reference="50000001", **overrides)
    page = show(client, case)
    assert heading in page
    assert advice in page
    assert "Continue to payment" not in page
    # and the payment page refuses it too
    assert client.get("/pay")["Location"] == "/your-penalty"


def test_penalty_page_without_a_lookup_goes_back_to_the_form(client):
    assert client.get("/your-penalty")["Location"] == "/find-your-penalty"
