"""A receipt to keep (issue 35): "Download your receipt (PDF)" on the confirmation, for the
browser that paid; the link in the receipt email for 90 days, without signing in; nobody
else. The PDF is tagged (PDF/UA-1), in the keeper's language, and names what a receipt must."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from penaltypay.payments.models import Payment
from penaltypay.payments.receipt_links import receipt_token
from tests.citizen.conftest import find
from tests.citizen.test_payment_journey import SUCCESS_CARD, go_to_card_page

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"https?://\S+/receipt/(\S+)")


def pay(client, case, provider, *, email="keeper@example.com") -> tuple[Payment, str]:
    """A keeper pays; returns the payment and the confirmation page."""
    go_to_card_page(client, case, email=email)
    payment = Payment.objects.get(lines__case_reference=case.reference)
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    page = client.get(client.get(f"/pay/return/{payment.id}")["Location"]).content.decode()
    payment.refresh_from_db()
    return payment, page


def read(pdf: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split()), reader


def test_the_browser_that_paid_downloads_a_tagged_receipt_and_another_browser_gets_not_found(
    client, reduced_case, provider
):
    payment, page = pay(client, reduced_case, provider)
    assert "Download your receipt (PDF)" in page
    address = f"/pay/receipt/{payment.id}"
    assert f'href="{address}"' in page
    response = client.get(address)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{payment.reference}.pdf"'
    assert "no-store" in response["Cache-Control"]
    text, reader = read(response.content)
    for expected in (payment.reference, reduced_case.reference, reduced_case.vrm, "£40", "ending 1111"):
        assert expected in text, expected
    assert "Payment receipt" in text and "Date and time paid" in text
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "en" and "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]
    assert reader.metadata.title == f"Payment receipt {payment.reference}"
    # A stranger (another browser) with the same address: nothing.
    assert Client().get(address).status_code == 404
    # Nor another payment's receipt from this browser.
    assert client.get(f"/pay/receipt/{payment.id}".replace(str(payment.id)[-4:], "0000")).status_code == 404


def test_the_receipt_email_link_opens_the_pdf_anywhere_for_ninety_days_and_not_after(
    client, reduced_case, provider, mailoutbox
):
    payment, _ = pay(client, reduced_case, provider)
    (email,) = mailoutbox
    token = LINK.search(email.body).group(1)
    assert "Download your receipt (PDF)" in email.body
    opened = Client().get(f"/receipt/{token}")  # no session at all: the link is enough
    assert opened.status_code == 200 and payment.reference in read(opened.content)[0]
    assert Client().get(f"/receipt/{token[:-2]}xx").status_code == 404  # altered: not found
    assert Client().get("/receipt/not-a-link").status_code == 404
    old = receipt_token(payment, issued_at=timezone.now() - timedelta(days=91))
    assert Client().get(f"/receipt/{old}").status_code == 404
    fresh_enough = receipt_token(payment, issued_at=timezone.now() - timedelta(days=89))
    assert Client().get(f"/receipt/{fresh_enough}").status_code == 200


def test_a_welsh_keeper_gets_a_welsh_receipt_and_the_receipt_survives_starting_again(client, reduced_case, provider):
    client.get("/?lang=cy")
    payment, page = pay(client, reduced_case, provider)
    assert "Lawrlwytho eich derbynneb (PDF)" in page
    client.get("/start-again")  # paying another penalty: this browser keeps its receipts
    response = client.get(f"/pay/receipt/{payment.id}")
    text, reader = read(response.content)
    assert reader.trailer["/Root"]["/Lang"] == "cy"
    assert "Derbynneb taliad" in text and "Cyfeirnod y taliad" in text and payment.reference in text


def test_an_unpaid_payment_has_no_receipt(client, reduced_case, provider):
    go_to_card_page(client, reduced_case)
    payment = Payment.objects.get()
    assert client.get(f"/pay/receipt/{payment.id}").status_code == 404
    assert Client().get(f"/receipt/{receipt_token(payment)}").status_code == 404
    find(client, reduced_case.reference, reduced_case.vrm)
