"""The sandbox provider's optional state file: payments, refunds and events survive
a restart (as a real provider's do), a corrupt file stops it from starting, and
no card number is ever written."""

from __future__ import annotations

import json
import os
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urljoin

import lxml.html
import pytest
import requests

from penaltypay.adapters.pay_api import PayClient
from penaltypay.payments.ports import RefundAmountMismatch
from standins.pay import SandboxProvider, SandboxStateError
from standins.pay.__main__ import main
from tests.providers import API_KEY, RETURN_URL, payment_request

CARD_NUMBER = "4444333322221111"
NEXT_YEAR = str(date.today().year + 1)


@pytest.fixture
def state_file(tmp_path):
    return tmp_path / "var" / "sandbox-provider-state.json"


@pytest.fixture
def started():
    """start(state_file=…, **kwargs) -> a running sandbox; all of them are stopped afterwards."""
    running: list[SandboxProvider] = []

    def start(state_file, **kwargs) -> SandboxProvider:
        sandbox = SandboxProvider(state_file=state_file, **kwargs)
        sandbox.start(host="127.0.0.1", port=0)
        running.append(sandbox)
        return sandbox

    yield start
    for sandbox in running:
        sandbox.stop()


def pay_client(sandbox: SandboxProvider) -> closing[PayClient]:
    return closing(PayClient(sandbox.base_url, API_KEY, timeout=3.0, rate_limit_retries=0))


def create(client: PayClient, reference: str, amount: int = 4000):
    return client.create_payment(
        amount=amount,
        reference=reference,
        description="Late licensing penalty 12345678 (AB12CDE)",
        return_url=RETURN_URL,
        language="cy",
        email="keeper@example.com",
        metadata={"case_reference": "12345678", "case_type": "7A"},
    )


def pay_on_card_page(next_url: str, card_number: str = CARD_NUMBER) -> requests.Response:
    """The payer's browser: open the card page and submit a card."""
    page = requests.get(next_url)
    assert page.status_code == 200, page.text
    (card_form,) = [f for f in lxml.html.fromstring(page.text).forms if "card_number" in f.fields]
    action = card_form.action
    form = {
        "card_number": card_number,
        "expiry_month": "12",
        "expiry_year": NEXT_YEAR,
        "cardholder_name": "Jo Keeper",
        "security_code": "123",
    }
    return requests.post(urljoin(next_url, action), data=form, allow_redirects=False)


def events(sandbox: SandboxProvider, payment_id: str) -> list[dict]:
    response = requests.get(
        f"{sandbox.base_url}/v1/payments/{payment_id}/events", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert response.status_code == 200, response.text
    return [{"state": e["state"], "updated": e["updated"]} for e in response.json()["events"]]


# --- surviving a restart ------------------------------------------------------------


def test_payments_refunds_and_events_survive_a_restart(started, state_file):
    first = started(state_file)
    with pay_client(first) as client:
        paid = create(client, "PP-KEEP-0001")
        assert pay_on_card_page(paid.next_url).status_code == 303
        refund = client.create_refund(paid.payment_id, 1500, 4000)
        waiting = create(client, "PP-KEEP-0002", amount=2500)
        old_link = client.get_payment(waiting.payment_id).next_url
        before = {p: client.get_payment(p) for p in (paid.payment_id, waiting.payment_id)}
    whole_before = {p: first.payment(p) for p in before}
    events_before = {p: events(first, p) for p in before}
    first.stop()

    second = started(state_file)
    with pay_client(second) as client:
        after_paid = client.get_payment(paid.payment_id)
        assert after_paid.status == "success" and after_paid.finished
        assert after_paid.amount == 4000 and after_paid.reference == "PP-KEEP-0001"
        assert after_paid.refund_amount_available == 2500 and after_paid.refund_status == "available"
        assert after_paid.card_brand == "Visa" and after_paid.card_last_four == "1111"
        assert after_paid.provider_id == before[paid.payment_id].provider_id is not None
        assert after_paid.authorised_at == before[paid.payment_id].authorised_at is not None
        assert after_paid.created_date == before[paid.payment_id].created_date
        assert [(r.refund_id, r.amount, r.status) for r in client.list_refunds(paid.payment_id)] == [
            (refund.refund_id, 1500, "success")
        ]

        after_waiting = client.get_payment(waiting.payment_id)
        assert after_waiting.status == "created" and not after_waiting.finished
        assert after_waiting.amount == 2500 and after_waiting.refund_status == "pending"

        # Everything the contract's payment object says is the same (links aside),
        # and so is the event history.
        for payment_id, whole in whole_before.items():
            assert second.payment(payment_id) == whole
            assert events(second, payment_id) == events_before[payment_id]

        # Card-page links do not survive, but a read issues a fresh one that works.
        assert requests.get(old_link.replace(first.base_url, second.base_url)).status_code == 410
        assert after_waiting.next_url.startswith(second.base_url + "/secure/")
        assert pay_on_card_page(after_waiting.next_url).status_code == 303
        assert client.get_payment(waiting.payment_id).status == "success"

        # Search still finds them, and later payments still sort as newest.
        [found] = client.find_payments_by_reference("PP-KEEP-0001")
        assert found.payment_id == paid.payment_id
        newer = create(client, "PP-KEEP-0002", amount=100)
        assert [p.payment_id for p in client.find_payments_by_reference("PP-KEEP-0002")] == [
            newer.payment_id,
            waiting.payment_id,
        ]

        # The refund summary still guards against a refund prepared from a stale read.
        with pytest.raises(RefundAmountMismatch):
            client.create_refund(paid.payment_id, 100, 4000)


def test_every_change_is_on_disk_at_once(started, state_file):
    sandbox = started(state_file)
    saved = lambda: {p["payment_id"]: p for p in json.loads(state_file.read_text())["payments"]}  # noqa: E731
    assert saved() == {}  # written at start: an unwritable place would fail there

    with pay_client(sandbox) as client:
        payment = create(client, "PP-DISK-0001")
        assert saved()[payment.payment_id]["status"] == "created"
        sandbox.complete(payment.payment_id, CARD_NUMBER)
        assert saved()[payment.payment_id]["status"] == "success"
        client.create_refund(payment.payment_id, 4000, 4000)
        assert [r["status"] for r in saved()[payment.payment_id]["refunds"]] == ["success"]
        cancelled = create(client, "PP-DISK-0002")
        client.cancel_payment(cancelled.payment_id)
        assert saved()[cancelled.payment_id]["code"] == "P0040"

    # No temporary files left behind, and only this user can read it (it holds emails).
    assert os.listdir(state_file.parent) == [state_file.name]
    if os.name == "posix":
        assert state_file.stat().st_mode & 0o077 == 0

    sandbox.reset()
    assert saved() == {}


def test_a_payment_that_ran_out_of_time_while_stopped_expires_after_the_restart(started, state_file):
    now = [datetime(2025, 3, 1, 9, 0, tzinfo=UTC)]
    first = started(state_file, clock=lambda: now[0])
    with pay_client(first) as client:
        payment = create(client, "PP-LATE-0001")
    first.stop()

    now[0] += timedelta(hours=2)
    second = started(state_file, clock=lambda: now[0])
    with pay_client(second) as client:
        expired = client.get_payment(payment.payment_id)
    assert expired.status == "failed" and expired.failure_code == "P0020" and expired.next_url is None
    [saved] = json.loads(state_file.read_text())["payments"]
    assert saved["status"] == "failed" and saved["code"] == "P0020"


def test_the_state_file_never_holds_a_card_number_or_security_code(started, state_file):
    sandbox = started(state_file)
    with pay_client(sandbox) as client:
        for card in (CARD_NUMBER, "4000000000000002"):  # a success and a decline
            payment = create(client, "PP-CARD-0001")
            assert pay_on_card_page(payment.next_url, card).status_code == 303
        declined_via_control = create(client, "PP-CARD-0002")
        sandbox.complete(declined_via_control.payment_id, "4000 0000 0000 0069")

    text = state_file.read_text()
    for secret in (CARD_NUMBER, "4000000000000002", "4000000000000069", '"123"', '"security_code"', '"card_number"'):
        assert secret not in text
    assert '"last_digits_card_number": "1111"' in text  # what is kept: brand and last four only
    assert "/secure/" not in text and "token" not in text  # card-page links are not saved


def test_without_a_state_file_nothing_is_written(tmp_path, monkeypatch):
    # The default the other tests rely on: memory only.
    monkeypatch.chdir(tmp_path)
    for sandbox in (SandboxProvider(), SandboxProvider(state_file="")):
        assert sandbox.state_file is None
        sandbox.api_create(payment_request(), "http://127.0.0.1")
    assert os.listdir(tmp_path) == []


# --- refusing to start --------------------------------------------------------------


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"format": "penaltypay-sandbox-provider-state", "version": 1, "next_seq": 2, "payments": [', "corrupt"),
        ("", "corrupt"),
        ('{"payments": []}', "not a sandbox provider state file"),
        (
            json.dumps(
                {
                    "format": "penaltypay-sandbox-provider-state",
                    "version": 1,
                    "next_seq": 2,
                    "payments": [{"payment_id": "abc", "status": "success", "amount": "40"}],
                }
            ),
            "payment abc",
        ),
        (b"\xff\xfe not utf-8", "cannot read it"),
    ],
    ids=["truncated", "empty", "other-json", "bad-payment", "not-text"],
)
def test_a_corrupt_state_file_stops_the_sandbox_starting(state_file, caplog, content, reason):
    state_file.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        state_file.write_bytes(content)
    else:
        state_file.write_text(content)
    original = state_file.read_bytes()

    with pytest.raises(SandboxStateError, match=reason) as failure:
        SandboxProvider(state_file=state_file)

    assert str(state_file) in str(failure.value) and "Refusing to start" in str(failure.value)
    assert any(r.levelname == "ERROR" and str(state_file) in r.getMessage() for r in caplog.records)
    assert state_file.read_bytes() == original  # the money records are left exactly as they were


def test_an_unreadable_state_file_stops_the_sandbox_starting(tmp_path):
    with pytest.raises(SandboxStateError, match="cannot read it"):
        SandboxProvider(state_file=tmp_path)  # a directory


def test_the_command_line_exits_non_zero_on_a_corrupt_state_file(state_file):
    state_file.parent.mkdir(parents=True)
    state_file.write_text("{not json")
    with pytest.raises(SystemExit) as stopped:
        main(["--port", "0", "--state-file", str(state_file), "--log-level", "CRITICAL"])
    assert "not started" in str(stopped.value.code) and str(state_file) in str(stopped.value.code)
