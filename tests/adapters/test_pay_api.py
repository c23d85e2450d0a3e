"""PayClient against the real sandbox, plus tiny misbehaving servers for the
failures the sandbox does not produce (silence, dropped connections, refusals)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import struct
import threading
import time
from datetime import date, datetime

import pytest

from penaltypay.adapters import pay_api as pay
from penaltypay.adapters.pay_api import PayClient
from penaltypay.adapters.pay_mapping import payment_from_json, verify_webhook_signature
from penaltypay.kernel.metrics import PROVIDER_RATE_LIMITED, PROVIDER_RETRIES
from penaltypay.payments.ports import (
    PaymentNotFound,
    ProviderAuthError,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnreachable,
    RefundAmountMismatch,
    RefundNotAvailable,
    RefundNotFound,
)
from tests.providers import API_KEY, RETURN_URL, WEBHOOK_SECRET

EMAIL = "keeper@example.com"


def create(pay_client: PayClient, **overrides) -> ProviderPayment:
    fields = {
        "amount": 4000,
        "reference": "PP-7KQ2-M4XD",
        "description": "Late licensing penalty 12345678 (AB12CDE)",
        "return_url": RETURN_URL,
        "email": EMAIL,
        "metadata": {"case_reference": "12345678", "case_type": "7A"},
    }
    fields.update(overrides)
    return pay_client.create_payment(**fields)


# --- round trips -----------------------------------------------------------------


def test_create_and_read_back(pay_client):
    created = create(pay_client)

    assert created.payment_id
    assert created.amount == 4000
    assert created.reference == "PP-7KQ2-M4XD"
    assert created.description == "Late licensing penalty 12345678 (AB12CDE)"
    assert created.language == "en"
    assert created.email == EMAIL
    assert created.status == "created" and created.finished is False
    assert created.failure_code is None and created.failure_message is None
    assert created.next_url.startswith(pay_client.base_url + "/secure/")
    assert created.created_date.tzinfo is not None
    assert created.refund_amount_available == 4000 and created.refund_status == "pending"
    assert created.provider_id is None and created.card_brand is None and created.captured_date is None

    again = pay_client.get_payment(created.payment_id)

    assert again.payment_id == created.payment_id
    assert again.created_date == created.created_date
    assert again.next_url and again.next_url != created.next_url  # a fresh single-use link


def test_repr_hides_the_email_and_the_card_page_link(pay_client):
    created = create(pay_client)
    assert EMAIL not in repr(created)
    assert created.next_url not in repr(created)
    assert API_KEY not in repr(pay_client)


def test_a_paid_payment(sandbox, pay_client):
    created = create(pay_client, language="cy", moto=True)
    sandbox.complete(created.payment_id, "5105105105105100")

    paid = pay_client.get_payment(created.payment_id)

    assert paid.status == "success" and paid.finished and paid.succeeded
    assert paid.next_url is None
    assert paid.provider_id
    assert paid.card_brand == "Mastercard" and paid.card_last_four == "5100"
    assert isinstance(paid.authorised_at, datetime) and paid.authorised_at.tzinfo is not None
    assert isinstance(paid.captured_date, date) and paid.captured_date == paid.authorised_at.date()
    assert paid.language == "cy" and paid.moto is True


@pytest.mark.parametrize(
    "card,status,code",
    [("4000000000000002", "failed", "P0010"), ("4000000000000119", "error", "P0050")],
)
def test_unsuccessful_outcomes(sandbox, pay_client, card, status, code):
    created = create(pay_client)
    sandbox.complete(created.payment_id, card)
    payment = pay_client.get_payment(created.payment_id)
    assert (payment.status, payment.finished, payment.failure_code) == (status, True, code)
    assert payment.failure_message


def test_expired_payment(sandbox, pay_client):
    created = create(pay_client)
    sandbox.configure(expiry_seconds=0)
    payment = pay_client.get_payment(created.payment_id)
    assert (payment.status, payment.failure_code) == ("failed", "P0020")


# --- refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides,status,code,field",
    [
        ({"amount": 0}, 422, "P0102", "amount"),
        ({"reference": ""}, 400, "P0101", "reference"),
        ({"description": "a <b>"}, 400, "P0102", "description"),
        ({"language": "fr"}, 422, "P0102", "language"),
        ({"metadata": {"k": None}}, 422, "P0102", "metadata"),
    ],
)
def test_create_refused(pay_client, overrides, status, code, field):
    with pytest.raises(ProviderRejected) as caught:
        create(pay_client, **overrides)
    assert type(caught.value) is ProviderRejected
    assert (caught.value.http_status, caught.value.code, caught.value.field) == (status, code, field)
    assert caught.value.description


def test_wrong_api_key(sandbox):
    pay_client = PayClient(sandbox.base_url, "not-the-key", timeout=3.0)
    with pytest.raises(ProviderAuthError):
        pay_client.get_payment("anything")
    with pytest.raises(ProviderAuthError):
        create(pay_client)


def test_unknown_payment(pay_client):
    with pytest.raises(PaymentNotFound) as caught:
        pay_client.get_payment("nosuchpayment")
    assert caught.value.code == "P0200" and caught.value.http_status == 404
    with pytest.raises(PaymentNotFound):
        pay_client.cancel_payment("nosuchpayment")
    with pytest.raises(PaymentNotFound) as on_refund:
        pay_client.create_refund("nosuchpayment", 100, 100)
    assert on_refund.value.code == "P0600"


def test_ids_cannot_escape_their_path(pay_client):
    with pytest.raises(PaymentNotFound):
        pay_client.get_payment("../payments")
    with pytest.raises(ValueError):
        pay_client.get_payment("")


def test_rate_limited(sandbox, pay_client):
    sandbox.configure(rate_limit_per_second=1)
    create(pay_client)
    with pytest.raises(ProviderRateLimited) as caught:
        create(pay_client)
    assert caught.value.retry_after == 1.0


def retries(operation: str) -> float:
    return PROVIDER_RETRIES.labels(operation=operation)._value.get()


def test_a_rate_limited_create_is_tried_again_with_short_pauses_and_counted(sandbox):
    sandbox.configure(rate_limit_per_second=1)
    patient = PayClient(sandbox.base_url, API_KEY, timeout=3.0)
    create(patient)
    before = retries("create_payment")
    started = time.monotonic()
    create(patient)  # refused, then tried again until the next second lets it through
    assert time.monotonic() - started < 2.5
    assert retries("create_payment") - before >= 1


def test_a_rate_limit_that_lasts_is_given_up_within_the_budget(sandbox):
    sandbox.configure(rate_limit_per_second=1)
    patient = PayClient(sandbox.base_url, API_KEY, timeout=3.0, rate_limit_budget=0.5)
    create(patient)
    refused_before = PROVIDER_RATE_LIMITED.labels(operation="create_payment")._value.get()
    started = time.monotonic()
    with pytest.raises(ProviderRateLimited):
        create(patient)
    assert time.monotonic() - started < 1.0
    assert PROVIDER_RATE_LIMITED.labels(operation="create_payment")._value.get() - refused_before == 1


# --- cancel and search -----------------------------------------------------------


def test_cancel(pay_client):
    created = create(pay_client)
    assert pay_client.cancel_payment(created.payment_id) is None
    cancelled = pay_client.get_payment(created.payment_id)
    assert (cancelled.status, cancelled.failure_code) == ("cancelled", "P0040")
    with pytest.raises(ProviderRejected) as caught:
        pay_client.cancel_payment(created.payment_id)
    assert caught.value.http_status == 400


def test_find_by_reference(pay_client):
    older = create(pay_client, reference="PP-FIND-0001")
    create(pay_client, reference="PP-FIND-0002")
    newer = create(pay_client, reference="PP-FIND-0001")

    found = pay_client.find_payments_by_reference("PP-FIND-0001")

    assert [p.payment_id for p in found] == [newer.payment_id, older.payment_id]
    assert all(p.next_url is None for p in found)
    assert pay_client.find_payments_by_reference("PP-NONE-0000") == []


def test_find_by_reference_follows_pages(pay_client, monkeypatch):
    monkeypatch.setattr(pay, "_SEARCH_PAGE_SIZE", 2)
    made = [create(pay_client, reference="PP-MANY-0001").payment_id for _ in range(5)]
    found = pay_client.find_payments_by_reference("PP-MANY-0001")
    assert [p.payment_id for p in found] == made[::-1]


# --- refunds ---------------------------------------------------------------------


def test_refunds(sandbox, pay_client):
    created = create(pay_client)
    sandbox.complete(created.payment_id, "4444333322221111")

    refund = pay_client.create_refund(created.payment_id, 1500, 4000)

    assert refund.amount == 1500 and refund.status == "submitted" and refund.created_date.tzinfo
    listed = pay_client.list_refunds(created.payment_id)
    assert [(r.refund_id, r.status) for r in listed] == [(refund.refund_id, "success")]
    assert pay_client.get_refund(created.payment_id, refund.refund_id).amount == 1500
    assert pay_client.get_payment(created.payment_id).refund_amount_available == 2500
    with pytest.raises(RefundNotFound):
        pay_client.get_refund(created.payment_id, "nosuchrefund")


def test_refund_with_stale_amount_available(sandbox, pay_client):
    created = create(pay_client)
    sandbox.complete(created.payment_id, "4444333322221111")
    pay_client.create_refund(created.payment_id, 1000, 4000)
    with pytest.raises(RefundAmountMismatch) as caught:
        pay_client.create_refund(created.payment_id, 1000, 4000)
    assert (caught.value.http_status, caught.value.code) == (412, "P0604")


def test_refund_not_available(sandbox, pay_client):
    created = create(pay_client)
    with pytest.raises(RefundNotAvailable) as caught:
        pay_client.create_refund(created.payment_id, 1000, 4000)
    assert caught.value.code == "P0603"
    sandbox.complete(created.payment_id, "4444333322221111")
    with pytest.raises(RefundNotAvailable):
        pay_client.create_refund(created.payment_id, 4001, 4000)


# --- unknown outcomes and unreachable providers ----------------------------------


def test_create_failing_after_commit_is_an_unknown_outcome_and_findable(sandbox, pay_client):
    sandbox.configure(fail_next_creates_after_commit=1)

    with pytest.raises(ProviderOutcomeUnknown):
        create(pay_client, reference="PP-LOST-0001")

    [found] = pay_client.find_payments_by_reference("PP-LOST-0001")
    assert found.status == "created" and found.amount == 4000
    assert pay_client.get_payment(found.payment_id).next_url


def test_create_failing_before_commit_is_also_unknown_to_the_client(sandbox, pay_client):
    sandbox.configure(fail_next_creates_before_commit=1)
    with pytest.raises(ProviderOutcomeUnknown):
        create(pay_client, reference="PP-LOST-0002")
    assert pay_client.find_payments_by_reference("PP-LOST-0002") == []


def test_slow_create_times_out_as_unknown_and_exists(sandbox):
    sandbox.configure(create_delay=0.5)
    impatient = PayClient(sandbox.base_url, API_KEY, timeout=0.2)
    with pytest.raises(ProviderOutcomeUnknown):
        create(impatient, reference="PP-SLOW-0001")
    time.sleep(0.4)
    patient = PayClient(sandbox.base_url, API_KEY, timeout=3.0)
    assert len(patient.find_payments_by_reference("PP-SLOW-0001")) == 1


class _TinyServer:
    """A raw TCP server that does one thing to every connection."""

    def __init__(self, behaviour):
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._connections = []
        self._behaviour = behaviour
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(connection)
            self._behaviour(connection)

    def close(self):
        self._listener.close()
        for connection in self._connections:
            connection.close()


def _read_request(connection):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return
        data += chunk


def _never_answer(connection):
    pass  # keep the connection open and say nothing


def _reset_after_request(connection):
    _read_request(connection)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _answer(raw: bytes):
    def behaviour(connection):
        _read_request(connection)
        connection.sendall(raw)
        connection.close()

    return behaviour


@pytest.fixture
def tiny_server():
    servers = []

    def start(behaviour):
        server = _TinyServer(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_no_answer_in_time_is_an_unknown_outcome(tiny_server):
    server = tiny_server(_never_answer)
    pay_client = PayClient(server.url, API_KEY, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(ProviderOutcomeUnknown):
        create(pay_client)
    assert time.monotonic() - started < 2
    with pytest.raises(ProviderOutcomeUnknown):
        pay_client.get_payment("abc")


def test_connection_reset_after_sending_is_an_unknown_outcome(tiny_server):
    pay_client = PayClient(tiny_server(_reset_after_request).url, API_KEY, timeout=2)
    with pytest.raises(ProviderOutcomeUnknown):
        create(pay_client)


def test_refused_connection_is_unreachable():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    pay_client = PayClient(f"http://127.0.0.1:{port}", API_KEY, timeout=2)
    with pytest.raises(ProviderUnreachable):
        create(pay_client)


@pytest.mark.parametrize(
    "raw,error",
    [
        (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", ProviderOutcomeUnknown),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\n\r\n<p/>\n", ProviderOutcomeUnknown),
        (b"HTTP/1.1 201 Created\r\nContent-Length: 9\r\n\r\nnot json!", ProviderOutcomeUnknown),
        (b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", ProviderOutcomeUnknown),
        (b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", ProviderOutcomeUnknown),
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n\r\nnope", ProviderRejected),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"trunc', ProviderOutcomeUnknown),
        (b"garbage\r\n\r\n", ProviderOutcomeUnknown),
    ],
)
def test_odd_answers_are_typed(tiny_server, raw, error):
    pay_client = PayClient(tiny_server(_answer(raw)).url, API_KEY, timeout=2)
    with pytest.raises(error):
        create(pay_client)


def test_only_typed_errors_escape(tiny_server):
    # Whatever goes wrong, callers only ever need to catch ProviderError.
    for behaviour in (_never_answer, _reset_after_request, _answer(b"\x00\x01")):
        pay_client = PayClient(tiny_server(behaviour).url, API_KEY, timeout=0.2)
        with pytest.raises(ProviderError):
            pay_client.get_payment("abc")


def test_a_404_from_the_search_is_not_read_as_no_payments(tiny_server):
    raw = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    pay_client = PayClient(tiny_server(_answer(raw)).url, API_KEY, timeout=2)
    with pytest.raises(PaymentNotFound):
        pay_client.find_payments_by_reference("PP-7KQ2-M4XD")


def test_no_email_or_key_in_the_logs(sandbox, pay_client, caplog):
    caplog.set_level(logging.DEBUG)
    created = create(pay_client)
    sandbox.complete(created.payment_id, "4444333322221111")
    pay_client.get_payment(created.payment_id)
    with pytest.raises(ProviderRejected):
        create(pay_client, amount=0)

    logged = " ".join(str(vars(record)) for record in caplog.records)
    assert "payment provider call" in logged
    assert EMAIL not in logged
    assert API_KEY not in logged
    assert "4444333322221111" not in logged


# --- webhooks --------------------------------------------------------------------


def _signed(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    "header,body,expected",
    [
        (_signed(b'{"a":1}'), b'{"a":1}', True),
        (_signed(b'{"a":1}').upper(), b'{"a":1}', True),
        (f"  {_signed(b'{}')}\n", b"{}", True),
        (_signed(b'{"a":1}'), b'{"a": 1}', False),  # any change to the raw body
        (_signed(b'{"a":1}', "another-secret"), b'{"a":1}', False),
        (None, b'{"a":1}', False),
        ("", b'{"a":1}', False),
        ("sha256=" + _signed(b'{"a":1}'), b'{"a":1}', False),
        (_signed(b'{"a":1}')[:-1], b'{"a":1}', False),
        ("zz" * 32, b'{"a":1}', False),
        ("é" * 64, b'{"a":1}', False),
    ],
)
def test_verify_webhook_signature(header, body, expected):
    assert verify_webhook_signature(body, header, WEBHOOK_SECRET) is expected


def test_verify_webhook_signature_needs_a_secret():
    assert verify_webhook_signature(b"{}", _signed(b"{}", ""), "") is False


def test_webhook_from_the_sandbox_verifies_and_parses(sandbox, pay_client, webhook_receiver):
    created = create(pay_client)
    sandbox.complete(created.payment_id, "4242424242424242")
    [request] = webhook_receiver.wait_for(1)

    assert verify_webhook_signature(request["body"], request["headers"]["Pay-Signature"], WEBHOOK_SECRET)
    assert not verify_webhook_signature(request["body"], request["headers"]["Pay-Signature"], "wrong")
    payment = payment_from_json(json.loads(request["body"])["resource"])
    assert payment.payment_id == created.payment_id
    assert payment.status == "success" and payment.card_last_four == "4242"
    assert payment.next_url is None


@pytest.mark.parametrize("junk", [None, [], {}, {"state": {}}, {"payment_id": "x", "state": {"status": "created"}}])
def test_payment_from_json_refuses_what_is_not_a_payment(junk):
    with pytest.raises(ValueError):
        payment_from_json(junk)
