"""Provider webhooks: signed hints. Refused without a valid signature; the payment is
always re-read from the provider, so duplicates and out-of-order messages change nothing twice."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, PaymentEvent
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "test-webhook-secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def message(payment_id: str, event_type: str, message_id: str = "msg-1", status: str = "success") -> bytes:
    return json.dumps(
        {
            "webhook_message_id": message_id,
            "created_date": "2026-11-22T10:16:02.000Z",
            "resource_id": payment_id,
            "api_version": 1,
            "resource_type": "payment",
            "event_type": event_type,
            "resource": {"payment_id": payment_id, "state": {"status": status, "finished": True}},
        }
    ).encode()


def post(client, body: bytes, signature: str | None):
    headers = {"HTTP_PAY_SIGNATURE": signature} if signature is not None else {}
    return client.post("/webhooks/pay", data=body, content_type="application/json", **headers)


@pytest.fixture
def payment_in_progress(client, reduced_case, provider):
    find(client, reduced_case.reference, reduced_case.vrm)
    assert client.post("/pay", {"email": "keeper@example.com"}).status_code == 303
    return Payment.objects.get()


def test_a_signed_webhook_settles_the_payment(client, payment_in_progress, provider, mailoutbox):
    provider.complete(payment_in_progress.provider_payment_id, "4444333322221111")
    body = message(payment_in_progress.provider_payment_id, "card_payment_succeeded")
    response = post(client, body, sign(body))
    assert response.status_code == 200
    payment_in_progress.refresh_from_db()
    assert payment_in_progress.status == PaymentStatus.SUCCESS.value
    assert len(mailoutbox) == 1


@pytest.mark.parametrize("signature", [None, "", "0" * 64, sign(b"other body"), sign(b"x", "wrong-secret")])
def test_an_unsigned_or_wrongly_signed_webhook_is_refused_and_changes_nothing(
    client, payment_in_progress, provider, signature
):
    provider.complete(payment_in_progress.provider_payment_id, "4444333322221111")
    body = message(payment_in_progress.provider_payment_id, "card_payment_succeeded")
    assert post(client, body, signature).status_code == 401
    payment_in_progress.refresh_from_db()
    assert payment_in_progress.status == PaymentStatus.IN_PROGRESS.value


def test_a_refused_signature_is_a_security_event(client, payment_in_progress, provider, caplog):
    body = message(payment_in_progress.provider_payment_id, "card_payment_succeeded")
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        post(client, body, sign(body, "not-our-secret"))
    (event,) = [r for r in caplog.records if hasattr(r, "security_event")]
    assert (event.security_event, event.signature_given) == ("webhook_signature_invalid", True)


def test_while_the_secret_is_rotated_both_the_new_and_the_previous_one_are_accepted(
    client, payment_in_progress, provider, settings
):
    settings.PAY_WEBHOOK_SECRET = "the-new-secret"
    settings.PAY_WEBHOOK_SECRET_PREVIOUS = SECRET
    provider.complete(payment_in_progress.provider_payment_id, "4444333322221111")
    old = message(payment_in_progress.provider_payment_id, "card_payment_succeeded", message_id="old")
    new = message(payment_in_progress.provider_payment_id, "card_payment_succeeded", message_id="new")
    assert post(client, old, sign(old, SECRET)).status_code == 200
    assert post(client, new, sign(new, "the-new-secret")).status_code == 200
    other = message(payment_in_progress.provider_payment_id, "card_payment_succeeded", message_id="other")
    assert post(client, other, sign(other, "a-third-secret")).status_code == 401
    # Once the rotation is over, the previous secret stops working.
    settings.PAY_WEBHOOK_SECRET_PREVIOUS = ""
    again = message(payment_in_progress.provider_payment_id, "card_payment_succeeded", message_id="again")
    assert post(client, again, sign(again, SECRET)).status_code == 401


def test_upper_case_hex_signature_is_accepted(client, payment_in_progress, provider):
    body = message(payment_in_progress.provider_payment_id, "card_payment_failed")
    assert post(client, body, sign(body).upper()).status_code == 200


def test_the_webhook_body_is_never_trusted_only_the_provider(client, payment_in_progress, provider):
    # A correctly signed message claiming success for a payment the keeper has not paid.
    body = message(payment_in_progress.provider_payment_id, "card_payment_succeeded")
    assert post(client, body, sign(body)).status_code == 200
    payment_in_progress.refresh_from_db()
    assert payment_in_progress.status == PaymentStatus.IN_PROGRESS.value


def test_duplicate_webhooks_change_nothing_twice(client, payment_in_progress, provider, mailoutbox):
    provider.complete(payment_in_progress.provider_payment_id, "4444333322221111")
    body = message(payment_in_progress.provider_payment_id, "card_payment_succeeded", "msg-dup")
    for _ in range(3):
        assert post(client, body, sign(body)).status_code == 200
    assert PaymentEvent.objects.filter(payment=payment_in_progress, to_status="success").count() == 1
    assert len(mailoutbox) == 1


def test_out_of_order_webhooks_leave_the_final_state(client, payment_in_progress, provider, mailoutbox):
    provider.complete(payment_in_progress.provider_payment_id, "4444333322221111")
    succeeded = message(payment_in_progress.provider_payment_id, "card_payment_succeeded", "m-2")
    stale = message(payment_in_progress.provider_payment_id, "card_payment_failed", "m-1", status="failed")
    assert post(client, succeeded, sign(succeeded)).status_code == 200
    assert post(client, stale, sign(stale)).status_code == 200  # late, older news
    payment_in_progress.refresh_from_db()
    assert payment_in_progress.status == PaymentStatus.SUCCESS.value
    assert len(mailoutbox) == 1


def test_webhooks_from_the_sandbox_itself_settle_payments(live_server, client, reduced_case, provider, settings):
    """End to end: the sandbox sends a real signed webhook to our running server."""
    import time

    provider.configure(webhook_url=f"{live_server.url}/webhooks/pay", webhook_secret=SECRET)
    find(client, reduced_case.reference, reduced_case.vrm)
    client.post("/pay", {"email": ""})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        payment.refresh_from_db()
        if payment.status == PaymentStatus.SUCCESS.value:
            break
        time.sleep(0.1)
    assert payment.status == PaymentStatus.SUCCESS.value
    assert PaymentEvent.objects.filter(payment=payment, source="webhook").exists()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"webhook_message_id": "x"}',
        "é".encode("latin-1"),
        # NUL cannot be stored in PostgreSQL text: found by the fuzz test
        b'{"webhook_message_id": "a\\u0000", "event_type": "card_payment_succeeded", "resource_id": "p1"}',
        b'{"webhook_message_id": "<b>", "event_type": "card_payment_succeeded", "resource_id": "p1"}',
    ],
)
def test_malformed_signed_bodies_get_400_not_500(client, body, provider):
    assert post(client, body, sign(body)).status_code == 400


def test_webhook_for_a_payment_we_do_not_hold_is_acknowledged(client, provider):
    body = message("nosuchpayment", "card_payment_succeeded")
    assert post(client, body, sign(body)).status_code == 200
