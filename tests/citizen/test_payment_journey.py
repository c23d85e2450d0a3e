"""Paying: create at the provider, come back, confirmation and receipt; and every way it can go wrong."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from penaltypay.adapters.factories import payment_provider as pay_client
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment
from penaltypay.payments.recheck import recheck_payments
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)

SUCCESS_CARD = "4444333322221111"
DECLINED_CARD = "4000000000000002"
ERROR_CARD = "4000000000000119"


def go_to_card_page(client, case, email="keeper@example.com"):
    assert find(client, case.reference, case.vrm).status_code == 302
    response = client.post("/pay", {"email": email})
    assert response.status_code == 303, response.content.decode()[:500]
    return response["Location"]


def come_back(client, payment):
    return client.get(f"/pay/return/{payment.id}")


def test_paying_with_a_success_card_confirms_and_emails_a_receipt(client, reduced_case, provider, mailoutbox):
    card_page = go_to_card_page(client, reduced_case)
    assert card_page.startswith(provider.base_url)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.IN_PROGRESS.value
    assert payment.amount_pence == 4000
    remote = pay_client().get_payment(payment.provider_payment_id)
    assert remote.reference == payment.reference and remote.amount == 4000 and remote.language == "en"

    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    response = come_back(client, payment)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Payment complete" in page
    assert f"<strong>{payment.reference}</strong>" in page
    assert "&lt;" not in page
    assert "£40" in page and reduced_case.reference in page
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCESS.value
    assert payment.authorised_at is not None and payment.psp_reference
    assert len(mailoutbox) == 1
    assert payment.reference in mailoutbox[0].body and mailoutbox[0].to == ["keeper@example.com"]

    # The confirmation ended the session: coming back again (refresh, back button, the next
    # user of this browser) shows nothing of the payment, changes nothing, sends nothing more.
    again = come_back(client, payment).content.decode()
    assert "We cannot show this payment here" in again
    assert payment.reference not in again and "keeper@example.com" not in again
    assert len(mailoutbox) == 1
    # Found again, the penalty shows as paid, even before ECS has heard about it.
    find(client, reduced_case.reference, reduced_case.vrm)
    assert "already been paid" in client.get("/your-penalty").content.decode()


def test_the_redirect_alone_is_never_trusted(client, reduced_case, provider):
    go_to_card_page(client, reduced_case)
    payment = Payment.objects.get()
    response = come_back(client, payment)  # back without paying
    assert "Payment complete" not in response.content.decode()
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.IN_PROGRESS.value


def test_a_declined_card_says_so_and_the_keeper_can_try_again(client, reduced_case, provider, mailoutbox):
    go_to_card_page(client, reduced_case)
    first = Payment.objects.get()
    provider.complete(first.provider_payment_id, DECLINED_CARD)
    page = come_back(client, first).content.decode()
    assert "Your payment was declined" in page and "Try again" in page

    second_card_page = client.post("/pay", {"email": "keeper@example.com"})["Location"]
    second = Payment.objects.exclude(pk=first.pk).get()
    assert second_card_page.startswith(provider.base_url)
    provider.complete(second.provider_payment_id, SUCCESS_CARD)
    assert come_back(client, second)["Location"] == f"/pay/complete/{second.id}"
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    "drive,heading",
    [
        (lambda p, pid: p.complete(pid, ERROR_CARD), "there was a problem with your payment"),
        (lambda p, pid: p.expire(pid), "Your payment session has timed out"),
    ],
)
def test_every_unsuccessful_outcome_has_its_own_page(client, reduced_case, provider, drive, heading):
    go_to_card_page(client, reduced_case)
    payment = Payment.objects.get()
    drive(provider, payment.provider_payment_id)
    page = come_back(client, payment).content.decode()
    assert heading in page
    assert "no money has been taken" in page


def test_a_double_click_resumes_the_same_payment(client, reduced_case, provider):
    first = go_to_card_page(client, reduced_case)
    second = client.post("/pay", {"email": "keeper@example.com"})
    assert second.status_code == 303
    assert Payment.objects.count() == 1
    payment = Payment.objects.get()
    assert len(pay_client().find_payments_by_reference(payment.reference)) == 1
    assert first != second["Location"]  # a fresh single-use card-page link


def test_a_create_that_times_out_is_found_not_repeated(client, reduced_case, provider):
    provider.configure(fail_next_creates_after_commit=1)
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302
    failed = client.post("/pay", {"email": ""})
    assert failed.status_code == 503
    assert "No money has been taken" in failed.content.decode()
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CREATE_UNKNOWN.value

    retried = client.post("/pay", {"email": ""})
    assert retried.status_code == 303
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.IN_PROGRESS.value
    assert Payment.objects.count() == 1  # the payment the provider made was adopted
    assert len(pay_client().find_payments_by_reference(payment.reference)) == 1


def test_a_keeper_who_closes_the_browser_still_has_the_payment_recorded(client, reduced_case, provider, mailoutbox):
    go_to_card_page(client, reduced_case)
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)  # ...and never comes back
    report = recheck_payments(pay_client(), older_than=timedelta(0))
    assert report.settled == 1
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCESS.value
    assert len(mailoutbox) == 1
    # a second pass changes nothing
    assert recheck_payments(pay_client(), older_than=timedelta(0)).settled == 0
    assert len(mailoutbox) == 1


def test_provider_down_when_paying_takes_nothing_and_says_try_later(client, reduced_case, provider, settings):
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302
    settings.PAY_API_URL = "http://127.0.0.1:9"  # nothing listens there
    response = client.post("/pay", {"email": ""})
    assert response.status_code == 503
    assert "Sorry, you cannot pay at the moment" in response.content.decode()
    assert Payment.objects.get().status == PaymentStatus.CREATE_FAILED.value


def test_invalid_receipt_email_is_explained_and_nothing_is_created(client, reduced_case, provider):
    find(client, reduced_case.reference, reduced_case.vrm)
    page = client.post("/pay", {"email": "not-an-email"}).content.decode()
    assert "Enter an email address in the correct format" in page
    assert Payment.objects.count() == 0


def test_payment_is_never_blocked_by_ecs_being_down(client, reduced_case, provider, ecs):
    find(client, reduced_case.reference, reduced_case.vrm)
    ecs.set_faults(unavailable=True)
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302
    go_to_card_page(client, reduced_case)
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    assert come_back(client, payment)["Location"] == f"/pay/complete/{payment.id}"


def test_card_page_is_the_providers_and_we_never_see_card_numbers(client, reduced_case, provider):
    card_page = go_to_card_page(client, reduced_case)
    html = requests.get(card_page, timeout=5).text
    assert 'autocomplete="cc-number"' in html
    assert not any("card" in field.name and "number" in field.name for field in Payment._meta.fields)
