"""Receipt emails: through GOV.UK Notify's own client (against a local stand-in of its
API) when configured, otherwise Django's email backend."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment
from penaltypay.payments.receipt_links import payment_of_link
from penaltypay.payments.receipts import receipt_sender

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid():
    return Payment.objects.create(
        reference="PP-ABCD-EFGH",
        first_case_reference="70000001",
        case_type="7A",
        amount_pence=4000,
        description="Late licensing penalty 70000001 (AB12CDE)",
        email="keeper@example.com",
        status=PaymentStatus.SUCCESS.value,
        authorised_at=datetime(2026, 11, 24, 14, 5, tzinfo=UTC),
    )


@pytest.fixture
def fake_notify():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                {"path": self.path, "auth": self.headers.get("Authorization", ""), "body": json.loads(body)}
            )
            answer = json.dumps({"id": str(uuid.uuid4()), "reference": "x", "content": {}, "uri": "", "template": {}})
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_receipt_goes_through_notify_when_configured(paid, fake_notify, settings, mailoutbox):
    url, received = fake_notify
    settings.NOTIFY_API_KEY = f"penaltypay_test-{uuid.uuid4()}-{uuid.uuid4()}"
    settings.NOTIFY_BASE_URL = url
    settings.NOTIFY_RECEIPT_TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
    settings.RECEIPT_SENDER = "penaltypay.adapters.notify.NotifyReceipts"
    receipt_sender().send_payment_receipt(paid)
    assert len(received) == 1 and not mailoutbox
    sent = received[0]
    assert sent["path"] == "/v2/notifications/email"
    assert sent["auth"].startswith("Bearer ")
    assert sent["body"]["email_address"] == "keeper@example.com"
    assert sent["body"]["template_id"] == settings.NOTIFY_RECEIPT_TEMPLATE_ID
    assert sent["body"]["reference"] == "PP-ABCD-EFGH"
    values = dict(sent["body"]["personalisation"])
    # The signed link to the receipt PDF: it opens this payment's receipt (tests/citizen/test_receipt_pdf.py).
    assert payment_of_link(values.pop("receipt_link").rsplit("/receipt/", 1)[1]) == paid
    assert values == {
        "payment_reference": "PP-ABCD-EFGH",
        "penalty_reference": "70000001",
        "penalty_type": "late licensing penalty",
        "amount": "£40",
        "paid_at": "24 November 2026 at 2:05pm",
        "paid_with": "",
        "penalties": "70000001 – late licensing penalty: £40",
        "your_reference": "",
    }


def test_a_welsh_keeper_gets_the_welsh_template_with_welsh_values(paid, fake_notify, settings):
    url, received = fake_notify
    settings.NOTIFY_API_KEY = f"penaltypay_test-{uuid.uuid4()}-{uuid.uuid4()}"
    settings.NOTIFY_BASE_URL = url
    settings.NOTIFY_RECEIPT_TEMPLATE_ID = "f33517ff-2a88-4f6e-b855-c550268ce08a"
    settings.NOTIFY_RECEIPT_TEMPLATE_ID_CY = "5a1f0c3e-7d42-4b8e-a1f6-2c9d3e4b5a60"
    settings.RECEIPT_SENDER = "penaltypay.adapters.notify.NotifyReceipts"
    Payment.objects.filter(pk=paid.pk).update(language="cy", wallet_type="Apple Pay")
    paid.refresh_from_db()
    receipt_sender().send_payment_receipt(paid)
    body = received[0]["body"]
    assert body["template_id"] == settings.NOTIFY_RECEIPT_TEMPLATE_ID_CY
    assert body["personalisation"]["paid_at"] == "24 Tachwedd 2026 am 2:05pm"
    assert body["personalisation"]["penalty_type"] == "cosb am drwyddedu’n hwyr"
    assert body["personalisation"]["paid_with"] == "Apple Pay"


def test_a_welsh_receipt_email_locally_is_all_welsh(paid, mailoutbox, settings):
    settings.NOTIFY_API_KEY = ""
    settings.RECEIPT_SENDER = "penaltypay.adapters.notify.EmailReceipts"
    Payment.objects.filter(pk=paid.pk).update(language="cy")
    paid.refresh_from_db()
    receipt_sender().send_payment_receipt(paid)
    mail = mailoutbox[0]
    assert mail.subject == "Taliad wedi dod i law ar gyfer cosb 70000001"
    assert "24 Tachwedd 2026 am 2:05pm" in mail.body and "Cyfeirnod y taliad" in mail.body
    for english in ("Payment reference", "November", "We have received"):
        assert english not in mail.body


def test_receipt_is_an_email_locally(paid, mailoutbox, settings):
    settings.NOTIFY_API_KEY = ""
    settings.RECEIPT_SENDER = "penaltypay.adapters.notify.EmailReceipts"
    receipt_sender().send_payment_receipt(paid)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["keeper@example.com"]
    assert mail.subject == "Payment received for penalty 70000001"
    assert "PP-ABCD-EFGH" in mail.body and "£40" in mail.body and "24 November 2026 at 2:05pm" in mail.body
    assert "&" not in mail.body  # plain text, not HTML-escaped


def test_a_failed_receipt_logs_its_kind_never_its_text(paid, caplog, monkeypatch):
    """The error's message can quote the address it was sending to."""
    from penaltypay.payments import receipts
    from penaltypay.payments.receipts import send_receipt_once

    monkeypatch.setattr(receipts.receipt_sender, "_factory", FailingSender)
    with caplog.at_level(logging.INFO):
        assert send_receipt_once(paid.pk) is False
    paid.refresh_from_db()
    assert paid.receipt_sent_at is None  # released for the re-checker to retry
    (record,) = [r for r in caplog.records if r.getMessage() == "receipt email failed; will retry"]
    assert record.error == "SMTPRecipientsRefused" and record.exc_info is None
    assert "keeper@example.com" not in str(vars(record))


class SMTPRecipientsRefused(Exception):
    pass


class FailingSender:
    def send_payment_receipt(self, payment):
        raise SMTPRecipientsRefused(f"{payment.email}: mailbox unavailable")


@pytest.mark.parametrize("setting", ["RECEIPT_SENDER", "TEAM_EMAIL_SENDER"])
def test_settings_can_only_name_our_own_adapters(settings, setting):
    """Adapters are built in one place (penaltypay.adapters.factories), from our own code:
    a setting naming anything else is refused, in every environment."""
    from django.core.exceptions import ImproperlyConfigured

    from penaltypay.adapters import factories

    setattr(settings, setting, "tests.adapters.test_notify.FailingSender")
    build = factories.receipt_sender if setting == "RECEIPT_SENDER" else factories.team_email
    with pytest.raises(ImproperlyConfigured, match=f"{setting} must name an adapter in penaltypay.adapters"):
        build()
