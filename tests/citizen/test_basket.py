"""A fleet keeper pays several penalties in one payment: add another, the basket page
(remove one, the total, your reference), one card payment, every line on the confirmation,
the receipt and in ECS; a line that changed is shown before the card page."""

from __future__ import annotations

import html
import io
import re
from dataclasses import replace
from datetime import timedelta

import pytest
from django.test import Client
from pypdf import PdfReader

from penaltypay.cases.domain import COURT
from penaltypay.payments import checkout
from penaltypay.payments.models import Payment
from tests.citizen.conftest import find
from tests.payments.test_refunds import deliver, ledger

pytestmark = pytest.mark.django_db(transaction=True)


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def fleet(put_case, today):
    return [
        put_case(reference="74000001", vrm="FL01EET"),
        put_case(reference="74000002", vrm="FL01EET"),
        put_case(reference="74000003", vrm="FL02EET", reduction_deadline=today - timedelta(days=1)),
    ]


def add(keeper, case, then="find"):
    assert find(keeper, case.reference, case.vrm).status_code == 302
    return keeper.post("/your-penalties/add", {"then": then})


def test_a_keeper_adds_three_penalties_removes_one_and_pays_the_rest_at_once(fleet, provider, ecs, clock, mailoutbox):
    keeper = Client()
    find(keeper, fleet[0].reference, fleet[0].vrm)
    page = text_of(keeper.get("/your-penalty"))
    assert "Continue to payment" in page and "Add another penalty" in page

    assert keeper.post("/your-penalties/add", {"then": "find"})["Location"] == "/find-your-penalty"
    assert "You have 1 penalty to pay." in text_of(keeper.get("/find-your-penalty"))
    find(keeper, fleet[1].reference, fleet[1].vrm)
    second = text_of(keeper.get("/your-penalty"))
    assert "Add this penalty and continue" in second and "You have added 1 other penalty" in second
    assert keeper.post("/your-penalties/add", {"then": "basket"})["Location"] == "/your-penalties"
    add(keeper, fleet[2], then="basket")

    basket = text_of(keeper.get("/your-penalties"))
    assert "You are paying 3 penalties" in basket
    assert (
        "Penalty 74000003 Registration FL02EET Type of penalty Late licensing penalty "
        "Reduced amount until No reduction Amount to pay now £80"
    ) in basket
    assert "Total £160" in basket
    assert keeper.post("/your-penalties", {"remove": "74000002"})["Location"] == "/your-penalties"
    assert "Total £120" in text_of(keeper.get("/your-penalties"))
    find(keeper, fleet[1].reference, fleet[1].vrm)
    keeper.post("/your-penalties/add", {"then": "basket"})
    assert "Total £160" in text_of(keeper.get("/your-penalties"))

    started = keeper.post("/your-penalties/pay", {"your_reference": "PO 4471 / fleet", "email": "fleet@example.com"})
    assert started.status_code == 303 and "/secure/" in started["Location"]
    payment = Payment.objects.get()
    assert (payment.amount_pence, payment.payer_reference) == (16000, "PO 4471 / fleet")
    provider.complete(payment.provider_payment_id, "4444333322221111")
    assert keeper.get(f"/pay/return/{payment.id}")["Location"] == f"/pay/complete/{payment.id}"

    confirmation = text_of(keeper.get(f"/pay/complete/{payment.id}"))
    assert "You paid 3 penalties" in confirmation and "Your reference PO 4471 / fleet" in confirmation
    for reference, amount in (("74000001", "£40"), ("74000003", "£80"), ("74000002", "£40")):
        assert f"{reference}" in confirmation and amount in confirmation
    assert "Total £160" in confirmation
    (receipt,) = mailoutbox
    assert "Your reference: PO 4471 / fleet" in receipt.body
    assert "74000001 FL01EET – late licensing penalty: £40" in receipt.body
    assert "Total paid: £160" in receipt.body
    # The receipt to keep names every penalty with its registration and amount, the total and
    # the fleet's own reference.
    pdf = " ".join(
        PdfReader(io.BytesIO(keeper.get(f"/pay/receipt/{payment.id}").content)).pages[0].extract_text().split()
    )
    assert "You paid 3 penalties" in pdf and "PO 4471 / fleet" in pdf and "Total paid £160" in pdf
    for reference, registration, amount in (("74000001", "FL01EET", "£40"), ("74000003", "FL02EET", "£80")):
        assert f"{reference} {registration} Late licensing penalty {amount}" in pdf

    deliver(ecs, clock)
    assert ledger(ecs, fleet[0]) == [("PAYMENT", payment.reference, 4000)]
    assert ledger(ecs, fleet[1]) == [("PAYMENT", payment.reference, 4000)]
    assert ledger(ecs, fleet[2]) == [("PAYMENT", payment.reference, 8000)]


def test_a_penalty_ecs_closed_since_it_was_added_is_shown_before_the_card_page(fleet, provider, ecs):
    keeper = Client()
    for case in fleet:
        add(keeper, case)
    ecs.put_case(replace(fleet[1], status=COURT))

    changed = keeper.post("/your-penalties/pay", {"email": ""})

    assert changed.status_code == 409
    page = text_of(changed)
    assert "Nothing has been paid" in page and "Penalty 74000002 has been taken out" in page
    assert "You are paying 2 penalties" in page and "Total £120" in page
    assert not Payment.objects.exists()
    again = keeper.post("/your-penalties/pay", {"email": ""})
    assert again.status_code == 303 and Payment.objects.get().amount_pence == 12000


def test_a_reduction_that_ended_shows_the_new_amount_before_paying(fleet, provider, ecs, today):
    keeper = Client()
    add(keeper, fleet[0])
    add(keeper, fleet[1])
    ecs.put_case(replace(fleet[0], reduction_deadline=today - timedelta(days=1)))
    page = text_of(keeper.post("/your-penalties/pay", {"email": ""}))
    assert "Penalty 74000001: the amount to pay is now £80 (it was £40)." in page and "Total £120" in page


def test_the_basket_holds_at_most_its_limit_and_says_so(fleet, provider, monkeypatch):
    monkeypatch.setattr(checkout, "MAX_BASKET", 2)
    keeper = Client()
    add(keeper, fleet[0])
    assert add(keeper, fleet[1])["Location"] == "/your-penalties"  # full: straight to the list
    page = text_of(keeper.get("/your-penalties"))
    assert "You can pay up to 2 penalties in one payment" in page and "Add another penalty" not in page
    refused = add(keeper, fleet[2])
    assert refused.status_code == 400 and "You can pay up to 2 penalties" in text_of(refused)


def test_your_reference_is_checked_and_the_page_speaks_welsh(fleet, provider):
    keeper = Client()
    add(keeper, fleet[0])
    too_long = keeper.post("/your-penalties/pay", {"your_reference": "x" * 51, "email": ""})
    assert too_long.status_code == 400 and "Your reference must be 50 characters or fewer" in text_of(too_long)
    keeper.get("/your-penalties?lang=cy")
    welsh = text_of(keeper.get("/your-penalties"))
    assert "Eich cosbau" in welsh and "Eich cyfeirnod (dewisol)" in welsh
