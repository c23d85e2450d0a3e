"""The sandbox after the payment, as the published API has it: fees, net amounts and settled
dates; disputes opened and decided by the test cards (searchable at GET /v1/disputes, with
webhooks); one payout a day, net of fees, refunds and lost disputes, readable as the bank
statement would show it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from standins.pay import SandboxProvider
from tests.providers import API_KEY, payment_request

LOST_CARD = "4000000000000259"
WON_CARD = "4000000000002685"
SUCCESS_CARD = "4444333322221111"
START = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)


class Moving:
    def __init__(self):
        self.now = START

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Moving()


@pytest.fixture
def own(clock, tmp_path):
    """A sandbox of its own on a clock the test moves, keeping its state in a file."""
    sandbox = SandboxProvider(clock=clock, state_file=tmp_path / "pay.json")
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def api():
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {API_KEY}"
    yield session
    session.close()


def paid(sandbox, api, card=SUCCESS_CARD, amount=10000) -> str:
    response = api.post(f"{sandbox.base_url}/v1/payments", json=payment_request(amount=amount))
    assert response.status_code == 201, response.text
    payment_id = response.json()["payment_id"]
    sandbox.complete(payment_id, card)
    return payment_id


def disputes(sandbox, api, **params) -> requests.Response:
    return api.get(f"{sandbox.base_url}/v1/disputes", params=params)


def test_a_taken_payment_carries_its_fee_net_amount_and_settled_date(own, api):
    own.configure(fee_basis_points=150, fee_fixed_pence=20)
    created = api.post(f"{own.base_url}/v1/payments", json=payment_request(amount=10001)).json()
    assert "fee" not in created and "net_amount" not in created

    payment_id = paid(own, api, amount=10001)
    body = api.get(f"{own.base_url}/v1/payments/{payment_id}").json()

    assert body["fee"] == 150 + 20  # 1.5% of £100.01 rounds to 150p
    assert body["net_amount"] == 10001 - 170
    assert body["settlement_summary"]["settled_date"] == "2027-03-10"
    assert body["settlement_summary"]["captured_date"] == "2027-03-10"


def test_settlement_can_come_days_later_and_the_search_finds_it_by_that_day(own, api, clock):
    own.configure(settle_after_days=2)
    payment_id = paid(own, api)

    assert "settled_date" not in api.get(f"{own.base_url}/v1/payments/{payment_id}").json()["settlement_summary"]
    by_settled = {"from_settled_date": "2027-03-12", "to_settled_date": "2027-03-13"}
    assert api.get(f"{own.base_url}/v1/payments", params=by_settled).json()["total"] == 0

    clock.advance(days=2)
    assert api.get(f"{own.base_url}/v1/payments/{payment_id}").json()["settlement_summary"]["settled_date"] == (
        "2027-03-12"
    )
    found = api.get(f"{own.base_url}/v1/payments", params=by_settled).json()
    assert [p["payment_id"] for p in found["results"]] == [payment_id]
    assert api.get(f"{own.base_url}/v1/payments", params={"to_settled_date": "2027-03-12"}).json()["total"] == 0


def test_a_refund_shows_its_settled_date_and_is_found_by_it(own, api):
    payment_id = paid(own, api)
    refund = api.post(
        f"{own.base_url}/v1/payments/{payment_id}/refunds", json={"amount": 1000, "refund_amount_available": 10000}
    ).json()
    read = api.get(f"{own.base_url}/v1/payments/{payment_id}/refunds/{refund['refund_id']}").json()
    assert read["settlement_summary"] == {"settled_date": "2027-03-10"}
    found = api.get(f"{own.base_url}/v1/refunds", params={"from_settled_date": "2027-03-10"}).json()
    assert [r["refund_id"] for r in found["results"]] == [refund["refund_id"]]


def test_a_disputed_card_is_disputed_then_lost_on_time(own, api, clock):
    payment_id = paid(own, api, LOST_CARD, amount=12000)
    assert disputes(own, api).json()["total"] == 0

    clock.advance(seconds=30)
    opened = disputes(own, api).json()
    assert opened["total"] == 1
    dispute = opened["results"][0]
    assert dispute["payment_id"] == payment_id
    assert dispute["status"] == "needs_response"
    assert dispute["amount"] == 12000 and dispute["fee"] == 2000
    assert dispute["reason"] == "fraudulent"
    assert dispute["created_date"] == "2027-03-10T09:00:30.000Z"
    assert dispute["evidence_due_date"] == "2027-03-20T09:00:30.000Z"
    assert "net_amount" not in dispute and "settlement_summary" not in dispute
    assert dispute["_links"]["payment"]["href"].endswith(f"/v1/payments/{payment_id}")
    assert "links" in opened and "_links" not in opened  # the published schema's name for them

    # A disputed payment cannot also be refunded.
    payment = api.get(f"{own.base_url}/v1/payments/{payment_id}").json()
    assert payment["refund_summary"]["status"] == "unavailable"
    refused = api.post(
        f"{own.base_url}/v1/payments/{payment_id}/refunds", json={"amount": 100, "refund_amount_available": 12000}
    )
    assert refused.status_code == 412 and refused.json()["code"] == "P0603"

    clock.advance(seconds=30)
    assert disputes(own, api).json()["results"][0]["status"] == "under_review"
    clock.advance(seconds=30)
    lost = disputes(own, api).json()["results"][0]
    assert lost["status"] == "lost"
    assert lost["net_amount"] == -14000
    assert lost["settlement_summary"] == {"settled_date": "2027-03-10"}


def test_a_won_dispute_takes_nothing_and_the_payment_can_be_refunded_again(own, api, clock):
    payment_id = paid(own, api, WON_CARD)
    clock.advance(seconds=95)
    won = disputes(own, api).json()["results"][0]
    assert won["status"] == "won" and "net_amount" not in won and "settlement_summary" not in won
    assert api.get(f"{own.base_url}/v1/payments/{payment_id}").json()["refund_summary"]["status"] == "available"


def test_the_dispute_search_filters_and_refuses_bad_parameters(own, api, clock):
    own.configure(dispute_open_seconds=0, dispute_decide_seconds=60)
    lost_id = paid(own, api, LOST_CARD)
    clock.advance(seconds=10)
    won_id = paid(own, api, WON_CARD)
    clock.advance(seconds=55)  # the first is decided, the second still under review

    def ids(**params):
        response = disputes(own, api, **params)
        assert response.status_code == 200, response.text
        return [d["payment_id"] for d in response.json()["results"]]

    assert ids() == [won_id, lost_id]  # newest first
    assert ids(status="lost") == [lost_id]
    assert ids(status="under_review") == [won_id]
    assert ids(from_date="2027-03-10T09:00:05Z") == [won_id]
    assert ids(to_date="2027-03-10T09:00:05Z") == [lost_id]
    assert ids(from_settled_date="2027-03-10") == [lost_id]
    assert ids(to_settled_date="2027-03-10") == []
    assert ids(display_size="1", page="2") == [lost_id]
    for name, value in [("status", "open"), ("from_date", "yesterday"), ("from_settled_date", "2027-3-1")]:
        response = disputes(own, api, **{name: value})
        assert response.status_code == 422
        assert response.json()["code"] == "P0401" and response.json()["field"] == name


def test_dispute_webhooks_name_the_dispute(sandbox, api, webhook_receiver):
    sandbox.configure(dispute_open_seconds=0, dispute_decide_seconds=0.2, sweep_interval=0.02)
    payment_id = paid(sandbox, api, LOST_CARD)

    deadline = time.monotonic() + 5
    while not any(m["event_type"] == "card_payment_dispute_lost" for m in webhook_receiver.messages()):
        assert time.monotonic() < deadline, "no dispute_lost webhook"
        time.sleep(0.02)
    messages = webhook_receiver.messages()
    dispute_messages = [m for m in messages if m["resource_type"] == "dispute"]
    assert [m["event_type"] for m in dispute_messages][0] == "card_payment_dispute_created"
    assert dispute_messages[-1]["event_type"] == "card_payment_dispute_lost"
    assert all(m["resource"]["payment_id"] == payment_id for m in dispute_messages)
    assert all(m["resource_id"] == m["resource"]["dispute_id"] for m in dispute_messages)
    assert "_links" not in dispute_messages[-1]["resource"]


def test_one_payout_a_day_net_of_fees_refunds_and_lost_disputes(own, api, clock):
    own.configure(dispute_open_seconds=0, dispute_decide_seconds=1, payout_delay_days=1)
    first = paid(own, api, amount=10000)  # fee 10 + 10
    paid(own, api, LOST_CARD, amount=5000)  # fee 5 + 10; lost: 5000 + 2000 dispute fee
    api.post(f"{own.base_url}/v1/payments/{first}/refunds", json={"amount": 1000, "refund_amount_available": 10000})
    clock.advance(seconds=2)
    disputes(own, api)  # the dispute is decided as time passes

    answer = requests.get(f"{own.base_url}/_sandbox/payouts", params={"from": "2027-03-10"}).json()

    (payout,) = answer["payouts"]
    assert payout["settled_date"] == "2027-03-10" and payout["arrival_date"] == "2027-03-11"
    assert payout["amount"] == (10000 + 5000) - (20 + 15) - 1000 - 5000 - 2000
    assert answer["statement_csv"].splitlines() == [
        "Date,Description,Amount",
        "2027-03-11,SANDBOX PAY PAYOUT 20270310,69.65",
    ]


def test_settlement_and_disputes_survive_a_restart(clock, tmp_path, api):
    state = tmp_path / "pay.json"
    first = SandboxProvider(clock=clock, state_file=state)
    first.start()
    try:
        first.configure(dispute_open_seconds=0, dispute_decide_seconds=0)
        payment_id = paid(first, api, LOST_CARD)
        disputes(first, api)
    finally:
        first.stop()
    second = SandboxProvider(clock=clock, state_file=state)
    second.start()
    try:
        (dispute,) = disputes(second, api).json()["results"]
        assert dispute["payment_id"] == payment_id and dispute["status"] == "lost"
        payment = api.get(f"{second.base_url}/v1/payments/{payment_id}").json()
        assert payment["fee"] == 20 and payment["settlement_summary"]["settled_date"] == "2027-03-10"
    finally:
        second.stop()
