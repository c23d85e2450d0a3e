"""The sandbox provider over real HTTP: the contract's API, the hosted card page,
expiry, webhooks and the fault controls the reliability tests rely on."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urljoin

import lxml.html
import pytest
import requests

from penaltypay.adapters.pay_mapping import verify_webhook_signature
from standins.pay import SandboxProvider
from tests.providers import API_KEY, RETURN_URL, WEBHOOK_SECRET, payment_request

ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NEXT_YEAR = str(date.today().year + 1)


def create(sandbox, http, **overrides) -> dict:
    response = http.post(f"{sandbox.base_url}/v1/payments", json=payment_request(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def read(sandbox, http, payment_id: str) -> dict:
    response = http.get(f"{sandbox.base_url}/v1/payments/{payment_id}")
    assert response.status_code == 200, response.text
    return response.json()


def card_form(card_number="4444333322221111", *, month="12", year=NEXT_YEAR, name="Jo Keeper", code="123") -> dict:
    return {
        "card_number": card_number,
        "expiry_month": month,
        "expiry_year": year,
        "cardholder_name": name,
        "security_code": code,
    }


def open_page(next_url: str) -> tuple[requests.Response, lxml.html.HtmlElement]:
    # A fresh, unauthenticated session: the payer's browser, not penaltypay.
    response = requests.get(next_url)
    return response, lxml.html.fromstring(response.text)


def page_form(page: lxml.html.HtmlElement, action_ends: str) -> lxml.html.FormElement:
    """The page's form whose action ends so (the page has wallet, card and cancel forms)."""
    (form,) = [f for f in page.forms if f.action.endswith(action_ends)]
    return form


def submit(next_url: str, page: lxml.html.HtmlElement, fields: dict) -> requests.Response:
    action = next(f.action for f in page.forms if "card_number" in f.fields)
    return requests.post(urljoin(next_url, action), data=fields, allow_redirects=False)


# --- create and read ---------------------------------------------------------


def test_create_answers_the_contract_payment_object(sandbox, http):
    body = create(sandbox, http)

    assert set(body) == {
        "payment_id",
        "amount",
        "reference",
        "description",
        "return_url",
        "language",
        "email",
        "moto",
        "metadata",
        "state",
        "created_date",
        "refund_summary",
        "settlement_summary",
        "payment_provider",
        "delayed_capture",
        "authorisation_mode",
        "_links",
    }  # provider_id and card_details only once there is a card: never null (the published API)
    assert re.fullmatch(r"[a-z0-9]{26}", body["payment_id"])
    assert body["amount"] == 4000
    assert body["reference"] == "PP-7KQ2-M4XD"
    assert body["language"] == "en" and body["moto"] is False
    assert body["metadata"] == {"case_reference": "12345678"}
    assert body["state"] == {"status": "created", "finished": False}
    assert ISO_MS_Z.match(body["created_date"])
    assert body["refund_summary"] == {"status": "pending", "amount_available": 4000, "amount_submitted": 0}
    assert "provider_id" not in body and "card_details" not in body
    assert (body["payment_provider"], body["delayed_capture"], body["authorisation_mode"]) == ("sandbox", False, "web")
    links = body["_links"]
    self_href = f"{sandbox.base_url}/v1/payments/{body['payment_id']}"
    assert links["self"] == {"href": self_href, "method": "GET"}
    assert links["next_url"]["href"].startswith(f"{sandbox.base_url}/secure/")
    assert links["events"] == {"href": f"{self_href}/events", "method": "GET"}
    assert links["refunds"] == {"href": f"{self_href}/refunds", "method": "GET"}
    assert links["cancel"] == {"href": f"{self_href}/cancel", "method": "POST"}


def test_read_returns_the_same_payment(sandbox, http):
    created = create(sandbox, http, language="cy", moto=True)
    body = read(sandbox, http, created["payment_id"])
    for key in ("payment_id", "amount", "reference", "description", "return_url", "email", "created_date"):
        assert body[key] == created[key]
    assert body["language"] == "cy" and body["moto"] is True


LONG = "x" * 256
SIXTEEN_KEYS = {f"key{i}": i for i in range(16)}


@pytest.mark.parametrize(
    "change,status,code,field",
    [
        ({"amount": ...}, 400, "P0101", "amount"),
        ({"amount": None}, 400, "P0101", "amount"),
        ({"amount": "4000"}, 400, "P0102", "amount"),
        ({"amount": 40.5}, 400, "P0102", "amount"),
        ({"amount": True}, 400, "P0102", "amount"),
        ({"amount": 0}, 422, "P0102", "amount"),
        ({"amount": -100}, 422, "P0102", "amount"),
        ({"amount": 10_000_001}, 422, "P0102", "amount"),
        ({"reference": ...}, 400, "P0101", "reference"),
        ({"reference": "   "}, 400, "P0101", "reference"),
        ({"reference": 12345}, 400, "P0102", "reference"),
        ({"reference": "PP<1>"}, 400, "P0102", "reference"),
        ({"reference": "PP|1"}, 400, "P0102", "reference"),
        ({"reference": LONG}, 422, "P0102", "reference"),
        ({"description": ...}, 400, "P0101", "description"),
        ({"description": ""}, 400, "P0101", "description"),
        ({"description": ["a"]}, 400, "P0102", "description"),
        ({"description": "fine > not"}, 400, "P0102", "description"),
        ({"description": LONG}, 422, "P0102", "description"),
        ({"return_url": ...}, 400, "P0101", "return_url"),
        ({"return_url": 7}, 400, "P0102", "return_url"),
        ({"return_url": "not a url"}, 422, "P0102", "return_url"),
        ({"return_url": "ftp://127.0.0.1/return"}, 422, "P0102", "return_url"),
        ({"return_url": "http://example.com/return"}, 422, "P0102", "return_url"),
        ({"return_url": "https://" + "a" * 2000 + ".example"}, 422, "P0102", "return_url"),
        ({"language": 1}, 400, "P0102", "language"),
        ({"language": "fr"}, 422, "P0102", "language"),
        ({"email": 5}, 400, "P0102", "email"),
        ({"email": "k" * 250 + "@example.com"}, 422, "P0102", "email"),
        ({"email": "not-an-email"}, 422, "P0102", "email"),
        ({"moto": "yes"}, 400, "P0102", "moto"),
        ({"metadata": ["a"]}, 422, "P0102", "metadata"),
        ({"metadata": SIXTEEN_KEYS}, 422, "P0102", "metadata"),
        ({"metadata": {"case": "1", "CASE": "2"}}, 422, "P0102", "metadata"),
        ({"metadata": {"k" * 31: "v"}}, 422, "P0102", "metadata"),
        ({"metadata": {"": "v"}}, 422, "P0102", "metadata"),
        ({"metadata": {"k": None}}, 422, "P0102", "metadata"),
        ({"metadata": {"k": {"nested": 1}}}, 422, "P0102", "metadata"),
        ({"metadata": {"k": [1]}}, 422, "P0102", "metadata"),
        ({"metadata": {"k": "v" * 101}}, 422, "P0102", "metadata"),
    ],
)
def test_create_validation_errors(sandbox, http, change, status, code, field):
    response = http.post(f"{sandbox.base_url}/v1/payments", json=payment_request(**change))

    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["field"] == field
    assert body["description"]
    # A refused create leaves nothing behind.
    assert http.get(f"{sandbox.base_url}/v1/payments").json()["total"] == 0


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 1},
        {"amount": 10_000_000},
        {"reference": "R" * 255, "description": "D" * 255},
        {"return_url": "https://penaltypay.example.gov.uk/pay/return/1"},
        {"return_url": "http://localhost:8000/return"},
        {"return_url": "http://testserver/pay/return/1"},
        {"language": "cy"},
        {"email": None, "metadata": None, "moto": None, "language": None},
        {"metadata": {**{f"key{i}": "v" * 100 for i in range(13)}, "number": 1.5, "flag": False}},
    ],
)
def test_create_accepts_values_at_the_limits(sandbox, http, change):
    assert http.post(f"{sandbox.base_url}/v1/payments", json=payment_request(**change)).status_code == 201


def test_create_refuses_a_body_that_is_not_json(sandbox, http):
    response = http.post(
        f"{sandbox.base_url}/v1/payments", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "P0197"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {API_KEY}"}, {"Authorization": "Bearer "}],
)
def test_missing_or_unknown_api_key_gets_401(sandbox, headers):
    created = requests.post(f"{sandbox.base_url}/v1/payments", json=payment_request(), headers=headers)
    read_back = requests.get(f"{sandbox.base_url}/v1/payments/abc", headers=headers)
    assert created.status_code == 401 and read_back.status_code == 401
    assert created.headers["WWW-Authenticate"] == "Bearer"


def test_accepted_keys_are_configurable(sandbox):
    sandbox.configure(api_keys=["live-like-key"])
    headers = {"Authorization": "Bearer live-like-key"}
    assert requests.post(f"{sandbox.base_url}/v1/payments", json=payment_request(), headers=headers).status_code == 201
    old = {"Authorization": f"Bearer {API_KEY}"}
    assert requests.get(f"{sandbox.base_url}/v1/payments", headers=old).status_code == 401


def test_unknown_payment_is_404_p0200(sandbox, http):
    for path in ("", "/events"):
        response = http.get(f"{sandbox.base_url}/v1/payments/nosuchpayment{path}")
        assert response.status_code == 404
        assert response.json()["code"] == "P0200"
    assert http.post(f"{sandbox.base_url}/v1/payments/nosuchpayment/cancel").json()["code"] == "P0200"


def test_too_many_posts_in_a_second_get_429_p0900(sandbox, http):
    answers = [http.post(f"{sandbox.base_url}/v1/payments", json={}).status_code for _ in range(20)]

    assert answers[:15] == [400] * 15  # counted whether valid or not
    assert 429 in answers[15:]
    limited = http.post(f"{sandbox.base_url}/v1/payments", json={})
    assert limited.status_code == 429
    assert limited.json()["code"] == "P0900"
    assert limited.headers["Retry-After"] == "1"
    # Reads are not limited.
    assert http.get(f"{sandbox.base_url}/v1/payments").status_code == 200


# --- the card-page link --------------------------------------------------------


def test_every_read_issues_a_fresh_link_and_the_old_one_stops_working(sandbox, http):
    created = create(sandbox, http)
    first = created["_links"]["next_url"]["href"]
    second = read(sandbox, http, created["payment_id"])["_links"]["next_url"]["href"]
    third = read(sandbox, http, created["payment_id"])["_links"]["next_url"]["href"]

    assert len({first, second, third}) == 3
    for stale in (first, second):
        response, page = open_page(stale)
        assert response.status_code == 410
        assert "expired" in page.findtext(".//h1").lower()
        assert not page.forms
    response, page = open_page(third)
    assert response.status_code == 200
    assert page.forms


def test_a_link_opens_once_only(sandbox, http):
    link = create(sandbox, http)["_links"]["next_url"]["href"]
    assert open_page(link)[0].status_code == 200
    assert open_page(link)[0].status_code == 410


def test_an_open_card_page_survives_the_service_reading_the_payment(sandbox, http):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)
    read(sandbox, http, created["payment_id"])  # e.g. the background re-checker

    assert submit(link, page, card_form()).status_code == 303
    assert read(sandbox, http, created["payment_id"])["state"]["status"] == "success"


def test_opening_the_page_moves_the_payment_to_started(sandbox, http):
    created = create(sandbox, http)
    open_page(created["_links"]["next_url"]["href"])
    assert read(sandbox, http, created["payment_id"])["state"] == {"status": "started", "finished": False}


def test_unknown_card_page_links_get_the_expired_page(sandbox):
    response = requests.get(f"{sandbox.base_url}/secure/made-up-token")
    assert response.status_code == 410
    # It cannot know the payer's language: it says it in both.
    assert "This payment link has expired" in response.text
    assert '<div lang="cy">' in response.text and "ddolen dalu hon wedi dod i ben" in response.text
    posted = requests.post(f"{sandbox.base_url}/secure/made-up-token", data=card_form(), allow_redirects=False)
    assert posted.status_code == 410


# --- the card page ---------------------------------------------------------------


SUCCESS_CARDS = [
    ("4444333322221111", "Visa", "1111", "123"),
    ("4242424242424242", "Visa", "4242", "123"),
    ("4000056655665556", "Visa", "5556", "123"),
    ("5105105105105100", "Mastercard", "5100", "123"),
    ("371449635398431", "American Express", "8431", "1234"),
]


@pytest.mark.parametrize("number,brand,last_four,code", SUCCESS_CARDS)
def test_success_cards_pay(sandbox, http, number, brand, last_four, code):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)

    response = submit(link, page, card_form(number, code=code))

    assert response.status_code == 303
    assert response.headers["Location"] == RETURN_URL
    body = read(sandbox, http, created["payment_id"])
    assert body["state"] == {"status": "success", "finished": True}
    assert body["provider_id"]
    assert body["card_details"]["card_brand"] == brand
    assert body["card_details"]["last_digits_card_number"] == last_four
    assert body["card_details"]["cardholder_name"] == "Jo Keeper"
    assert body["card_details"]["expiry_date"] == f"12/{NEXT_YEAR[2:]}"
    assert number not in json.dumps(body)
    assert ISO_MS_Z.match(body["settlement_summary"]["capture_submit_time"])
    assert body["settlement_summary"]["captured_date"] == body["settlement_summary"]["capture_submit_time"][:10]
    assert body["refund_summary"]["status"] == "available"
    assert "next_url" not in body["_links"]


@pytest.mark.parametrize(
    "number,status,code",
    [
        ("4000000000000002", "failed", "P0010"),
        ("4000000000000069", "failed", "P0010"),
        ("4000000000000127", "failed", "P0010"),
        ("4000000000000119", "error", "P0050"),
    ],
)
def test_unsuccessful_cards_finish_with_their_code(sandbox, http, number, status, code):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)

    response = submit(link, page, card_form(number))

    assert response.status_code == 303
    assert response.headers["Location"] == RETURN_URL
    body = read(sandbox, http, created["payment_id"])
    assert body["state"]["status"] == status
    assert body["state"]["finished"] is True
    assert body["state"]["code"] == code
    assert body["state"]["message"]
    assert "provider_id" not in body and "card_details" not in body
    assert body["refund_summary"]["status"] == "unavailable"


@pytest.mark.parametrize("answer,status,code", [("complete", "success", None), ("fail", "failed", "P0010")])
def test_a_card_that_asks_for_3_d_secure_shows_the_banks_challenge(sandbox, http, answer, status, code):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)

    challenge = submit(link, page, card_form("4000002500003155"))

    assert challenge.status_code == 200
    challenge_page = lxml.html.fromstring(challenge.text)
    assert challenge_page.findtext(".//h1") == "Confirm it is you"
    assert read(sandbox, http, created["payment_id"])["state"]["status"] == "submitted"
    buttons = {b.text: b.get("value") for b in challenge_page.iter("button")}
    assert buttons == {"Complete authentication": "complete", "Fail authentication": "fail"}
    action = urljoin(link, challenge_page.forms[0].action)
    answered = requests.post(action, data={"answer": answer}, allow_redirects=False)

    assert answered.status_code == 303 and answered.headers["Location"] == RETURN_URL
    body = read(sandbox, http, created["payment_id"])
    assert body["state"]["status"] == status and body["state"].get("code") == code
    assert body["authorisation_summary"] == {"three_d_secure": {"required": True}}
    assert requests.post(action, data={"answer": "complete"}, allow_redirects=False).status_code == 410


def test_moto_payments_never_meet_a_challenge_and_others_say_nothing_of_3_d_secure(sandbox, http):
    moto = create(sandbox, http, moto=True)
    sandbox.complete(moto["payment_id"], "4000002500003155")
    body = read(sandbox, http, moto["payment_id"])
    assert body["state"]["status"] == "success" and "authorisation_summary" not in body
    plain = create(sandbox, http)
    sandbox.complete(plain["payment_id"], "4444333322221111")
    assert "authorisation_summary" not in read(sandbox, http, plain["payment_id"])


def test_the_payer_can_cancel(sandbox, http):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)
    cancel_form = page_form(page, "/cancel")
    assert cancel_form.xpath(".//button")[0].text_content().strip() == "Cancel payment"

    response = requests.post(urljoin(link, cancel_form.action), allow_redirects=False)

    assert response.status_code == 303
    assert response.headers["Location"] == RETURN_URL
    assert read(sandbox, http, created["payment_id"])["state"] == {
        "status": "failed",
        "finished": True,
        "code": "P0030",
        "message": "Payment was cancelled by the user",
    }


def test_after_finishing_the_link_has_expired(sandbox, http):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)
    submit(link, page, card_form())

    again = submit(link, page, card_form("4000000000000002"))

    assert again.status_code == 410
    assert "expired" in lxml.html.fromstring(again.text).findtext(".//h1").lower()
    assert read(sandbox, http, created["payment_id"])["state"]["status"] == "success"


@pytest.mark.parametrize(
    "fields,field_id,message",
    [
        (card_form("1234567812345678"), "card-number", "Enter one of the sandbox test card numbers"),
        (card_form("4444 3333 2222 111x"), "card-number", "Enter a valid card number"),
        (card_form(""), "card-number", "Enter the card number"),
        (card_form(month="01", year="2020"), "expiry-month", "The expiry date must be in the future"),
        (card_form(month="13", year="30"), "expiry-month", "Enter a real expiry date, for example 04 30"),
        (card_form(month="", year=""), "expiry-month", "Enter the expiry date"),
        (card_form(name="  "), "cardholder-name", "Enter the name as it appears on the card"),
        (card_form(code="12"), "security-code", "Enter a valid card security code"),
        (card_form(code="1234"), "security-code", "Enter a valid card security code"),
        (card_form("371449635398431", code="123"), "security-code", "Enter a valid card security code"),
        (card_form(code=""), "security-code", "Enter the card security code"),
    ],
)
def test_form_errors_show_the_form_again(sandbox, http, fields, field_id, message):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)

    response = submit(link, page, fields)

    assert response.status_code == 200
    again = lxml.html.fromstring(response.text)
    summary_links = again.xpath("//div[contains(@class, 'error-summary')]//a")
    assert [(a.get("href"), a.text_content()) for a in summary_links] == [(f"#{field_id}", message)]
    assert message in again.get_element_by_id(f"{field_id}-error").text_content()
    # The number and security code are never written back into the page.
    assert again.get_element_by_id("card-number").get("value") is None
    assert again.get_element_by_id("security-code").get("value") is None
    assert read(sandbox, http, created["payment_id"])["state"]["status"] == "started"
    # ...and the payer can still pay from the page that was shown again.
    assert submit(link, again, card_form()).status_code == 303
    assert read(sandbox, http, created["payment_id"])["state"]["status"] == "success"


def test_card_page_is_accessible_and_needs_no_inline_code(sandbox, http):
    created = create(sandbox, http)
    response, page = open_page(created["_links"]["next_url"]["href"])

    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'self'" in csp
    assert "form-action 'self' http://127.0.0.1:8000" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert page.get("lang") == "en"
    assert len(page.findall(".//h1")) == 1
    assert page.find(".//title").text
    assert not page.xpath("//script | //style | //*[@style] | //*[starts-with(name(@*), 'on')]")
    labelled = {label.get("for") for label in page.xpath("//label")}
    inputs = page.xpath("//input[not(@type='hidden')]")
    assert inputs and all(i.get("id") in labelled for i in inputs)
    autocomplete = {i.get("name"): i.get("autocomplete") for i in inputs}
    assert autocomplete == {
        "card_number": "cc-number",
        "expiry_month": "cc-exp-month",
        "expiry_year": "cc-exp-year",
        "cardholder_name": "cc-name",
        "security_code": "cc-csc",
    }
    assert "£40.00" in page.text_content()
    stylesheet = page.xpath("//link[@rel='stylesheet']/@href")[0]
    css = requests.get(urljoin(sandbox.base_url, stylesheet))
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


def test_card_page_speaks_welsh_when_asked(sandbox, http):
    created = create(sandbox, http, language="cy")
    _, page = open_page(created["_links"]["next_url"]["href"])
    assert page.get("lang") == "cy"
    assert page.findtext(".//h1") == "Rhowch fanylion y cerdyn"


def test_events_list_every_state_change(sandbox, http):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)
    submit(link, page, card_form())

    body = http.get(created["_links"]["events"]["href"]).json()

    assert body["payment_id"] == created["payment_id"]
    assert [e["state"]["status"] for e in body["events"]] == ["created", "started", "submitted", "success"]
    assert all(ISO_MS_Z.match(e["updated"]) for e in body["events"])


# --- expiry ----------------------------------------------------------------------


def test_an_unfinished_payment_expires_after_the_limit(sandbox, http):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    sandbox.configure(expiry_seconds=0)

    body = read(sandbox, http, created["payment_id"])

    assert body["state"] == {"status": "failed", "finished": True, "code": "P0020", "message": "Payment expired"}
    assert "next_url" not in body["_links"]
    assert open_page(link)[0].status_code == 410


def test_the_limit_defaults_to_90_minutes(http):
    now = [datetime(2026, 11, 22, 10, 0, tzinfo=UTC)]
    sandbox = SandboxProvider(clock=lambda: now[0])  # its own instance: the clock is fixed at construction
    sandbox.start()
    try:
        created = create(sandbox, http)
        now[0] += timedelta(minutes=89, seconds=59)
        assert read(sandbox, http, created["payment_id"])["state"]["status"] == "created"
        now[0] += timedelta(seconds=1)
        assert read(sandbox, http, created["payment_id"])["state"]["code"] == "P0020"
    finally:
        sandbox.stop()


def test_the_sweep_expires_payments_nobody_reads(sandbox, http, webhook_receiver):
    sandbox.configure(sweep_interval=0.02)
    created = create(sandbox, http)
    sandbox.configure(expiry_seconds=0)

    received = webhook_receiver.wait_for(1)

    message = json.loads(received[0]["body"])
    assert message["event_type"] == "card_payment_expired"
    assert message["resource_id"] == created["payment_id"]
    assert message["resource"]["state"]["code"] == "P0020"


def test_the_expire_control(sandbox, http):
    created = create(sandbox, http)
    response = requests.post(f"{sandbox.base_url}/_sandbox/payments/{created['payment_id']}/expire")
    assert response.status_code == 200
    assert response.json()["state"]["code"] == "P0020"
    assert requests.post(f"{sandbox.base_url}/_sandbox/payments/{created['payment_id']}/expire").status_code == 409


# --- search ----------------------------------------------------------------------


def test_search_by_reference_newest_first(sandbox, http):
    first = create(sandbox, http, reference="PP-AAAA-1111")
    create(sandbox, http, reference="PP-BBBB-2222")
    second = create(sandbox, http, reference="PP-AAAA-1111")

    body = http.get(f"{sandbox.base_url}/v1/payments", params={"reference": "pp-aaaa-1111"}).json()

    assert body["total"] == 2 and body["count"] == 2 and body["page"] == 1
    assert [p["payment_id"] for p in body["results"]] == [second["payment_id"], first["payment_id"]]
    # Search results never carry a card-page link.
    assert all("next_url" not in p["_links"] for p in body["results"])
    assert "next_page" not in body["_links"] and "prev_page" not in body["_links"]


def test_search_filters_and_pages(sandbox, http):
    ids = [create(sandbox, http)["payment_id"] for _ in range(5)]
    sandbox.complete(ids[0], "4444333322221111")
    base = f"{sandbox.base_url}/v1/payments"

    assert [p["payment_id"] for p in http.get(base, params={"state": "success"}).json()["results"]] == [ids[0]]
    page_two = http.get(base, params={"display_size": 2, "page": 2}).json()
    assert page_two["total"] == 5 and page_two["count"] == 2
    assert [p["payment_id"] for p in page_two["results"]] == [ids[2], ids[1]]
    assert page_two["_links"]["next_page"]["href"].endswith("page=3")
    assert page_two["_links"]["prev_page"]["href"].endswith("page=1")
    past_the_end = http.get(base, params={"display_size": 2, "page": 4})  # an empty page, not a 404
    assert past_the_end.status_code == 200 and past_the_end.json()["results"] == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert http.get(base, params={"from_date": later}).json()["total"] == 0
    assert http.get(base, params={"to_date": later}).json()["total"] == 5


@pytest.mark.parametrize(
    "params,field",
    [
        ({"display_size": 501}, "display_size"),
        ({"display_size": 0}, "display_size"),
        ({"page": "x"}, "page"),
        ({"state": "paid"}, "state"),
        ({"from_date": "yesterday"}, "from_date"),
    ],
)
def test_search_refuses_bad_parameters(sandbox, http, params, field):
    response = http.get(f"{sandbox.base_url}/v1/payments", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "P0401"
    assert response.json()["field"] == field


def test_search_can_lag_behind(sandbox, http):
    sandbox.configure(search_delay=60)
    create(sandbox, http)
    assert http.get(f"{sandbox.base_url}/v1/payments").json()["total"] == 0


# --- cancel ----------------------------------------------------------------------


def test_cancel_while_unfinished_then_refused(sandbox, http):
    created = create(sandbox, http)
    cancel = created["_links"]["cancel"]["href"]

    first = http.post(cancel)
    second = http.post(cancel)

    assert first.status_code == 204 and first.content == b""
    assert second.status_code == 400
    state = read(sandbox, http, created["payment_id"])["state"]
    assert state == {
        "status": "cancelled",
        "finished": True,
        "code": "P0040",
        "message": "Payment was cancelled by the service",
    }


def test_cancel_of_a_paid_payment_is_refused(sandbox, http):
    created = create(sandbox, http)
    sandbox.complete(created["payment_id"], "4444333322221111")
    assert http.post(created["_links"]["cancel"]["href"]).status_code == 400
    assert read(sandbox, http, created["payment_id"])["state"]["status"] == "success"


# --- refunds ---------------------------------------------------------------------


def paid(sandbox, http, amount=4000) -> dict:
    created = create(sandbox, http, amount=amount)
    sandbox.complete(created["payment_id"], "4444333322221111")
    return created


def refund(sandbox, http, payment_id, amount, available):
    return http.post(
        f"{sandbox.base_url}/v1/payments/{payment_id}/refunds",
        json={"amount": amount, "refund_amount_available": available},
    )


def test_refund_then_list_and_read(sandbox, http):
    payment = paid(sandbox, http)
    pid = payment["payment_id"]

    response = refund(sandbox, http, pid, 1000, 4000)

    assert response.status_code == 202
    body = response.json()
    assert body["amount"] == 1000 and body["status"] == "submitted"
    assert ISO_MS_Z.match(body["created_date"])
    assert body["_links"]["payment"]["href"].endswith(f"/v1/payments/{pid}")
    listed = http.get(f"{sandbox.base_url}/v1/payments/{pid}/refunds").json()
    assert listed["payment_id"] == pid
    assert [(r["refund_id"], r["status"]) for r in listed["_embedded"]["refunds"]] == [(body["refund_id"], "success")]
    one = http.get(body["_links"]["self"]["href"])
    assert one.status_code == 200 and one.json()["status"] == "success"
    summary = read(sandbox, http, pid)["refund_summary"]
    assert summary == {"status": "available", "amount_available": 3000, "amount_submitted": 1000}


def test_refund_with_a_stale_amount_available_gets_412_p0604(sandbox, http):
    pid = paid(sandbox, http)["payment_id"]
    assert refund(sandbox, http, pid, 1000, 4000).status_code == 202

    stale = refund(sandbox, http, pid, 1000, 4000)

    assert stale.status_code == 412
    assert stale.json()["code"] == "P0604"


def test_two_concurrent_refunds_only_one_succeeds(sandbox, http):
    pid = paid(sandbox, http)["payment_id"]
    barrier = threading.Barrier(2)
    answers = []

    def attempt():
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {API_KEY}"
            barrier.wait()
            answers.append(refund(sandbox, session, pid, 4000, 4000).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(answers) == [202, 412]


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"refund_amount_available": 4000}, 400, "P0601"),
        ({"amount": "1000", "refund_amount_available": 4000}, 400, "P0602"),
        ({"amount": 0, "refund_amount_available": 4000}, 400, "P0602"),
        ({"amount": 4001, "refund_amount_available": 4000}, 412, "P0603"),
        ({"amount": 4001}, 412, "P0603"),
    ],
)
def test_refund_request_errors(sandbox, http, body, status, code):
    pid = paid(sandbox, http)["payment_id"]
    response = http.post(f"{sandbox.base_url}/v1/payments/{pid}/refunds", json=body)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_refund_amount_available_may_be_left_out(sandbox, http):
    """Optional in the published API: then nothing guards against a stale read."""
    pid = paid(sandbox, http)["payment_id"]
    response = http.post(f"{sandbox.base_url}/v1/payments/{pid}/refunds", json={"amount": 1000})
    assert response.status_code == 202 and response.json()["payment_id"] == pid
    assert read(sandbox, http, pid)["refund_summary"]["amount_available"] == 3000


def test_refunds_are_searched_by_date_across_payments(sandbox, http):
    first, second = paid(sandbox, http)["payment_id"], paid(sandbox, http)["payment_id"]
    refund(sandbox, http, first, 1000, 4000)
    refund(sandbox, http, second, 500, 4000)
    body = http.get(f"{sandbox.base_url}/v1/refunds").json()
    assert body["total"] == 2 and [r["payment_id"] for r in body["results"]] == [second, first]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert http.get(f"{sandbox.base_url}/v1/refunds", params={"from_date": later}).json()["total"] == 0
    assert http.get(f"{sandbox.base_url}/v1/refunds", params={"page": 9}).json()["results"] == []


def test_a_method_a_path_does_not_serve_gets_405_saying_what_it_does(sandbox, http):
    pid = create(sandbox, http)["payment_id"]
    for method, path, allow in (
        ("TRACE", "/v1/payments", "GET, POST"),
        ("DELETE", f"/v1/payments/{pid}", "GET"),
        ("PUT", f"/v1/payments/{pid}/refunds", "GET, POST"),
        ("OPTIONS", "/v1/refunds", "GET"),
    ):
        response = http.request(method, sandbox.base_url + path)
        assert (response.status_code, response.headers.get("Allow")) == (405, allow), (method, path)


def test_no_payment_awaits_capture_in_the_sandbox(sandbox, http):
    pid = create(sandbox, http)["payment_id"]
    assert http.post(f"{sandbox.base_url}/v1/payments/{pid}/capture").status_code == 400
    assert http.post(f"{sandbox.base_url}/v1/payments/nosuchpayment/capture").status_code == 404


def test_refund_not_available_p0603(sandbox, http):
    unpaid = create(sandbox, http)["payment_id"]
    assert refund(sandbox, http, unpaid, 100, 4000).json()["code"] == "P0603"
    pid = paid(sandbox, http)["payment_id"]
    assert refund(sandbox, http, pid, 4000, 4000).status_code == 202
    full = refund(sandbox, http, pid, 1, 0)
    assert full.status_code == 412 and full.json()["code"] == "P0603"
    assert read(sandbox, http, pid)["refund_summary"]["status"] == "full"


def test_refund_of_an_unknown_payment_is_404_p0600(sandbox, http):
    assert refund(sandbox, http, "nosuchpayment", 100, 100).json()["code"] == "P0600"
    assert http.get(f"{sandbox.base_url}/v1/payments/nosuchpayment/refunds").status_code == 404
    pid = paid(sandbox, http)["payment_id"]
    missing = http.get(f"{sandbox.base_url}/v1/payments/{pid}/refunds/nosuchrefund")
    assert missing.status_code == 404 and missing.json()["code"] == "P0700"


def test_a_failed_refund_gives_the_amount_back(sandbox, http):
    pid = paid(sandbox, http)["payment_id"]
    sandbox.configure(fail_next_refunds=1)
    assert refund(sandbox, http, pid, 1000, 4000).status_code == 202
    listed = http.get(f"{sandbox.base_url}/v1/payments/{pid}/refunds").json()["_embedded"]["refunds"]
    assert [r["status"] for r in listed] == ["error"]
    assert read(sandbox, http, pid)["refund_summary"]["amount_available"] == 4000


# --- webhooks --------------------------------------------------------------------


def test_webhook_is_signed_and_carries_the_payment_without_links(sandbox, http, webhook_receiver):
    created = create(sandbox, http)
    sandbox.complete(created["payment_id"], "4444333322221111")

    [request] = webhook_receiver.wait_for(1)

    assert request["path"] == "/webhooks/pay"
    assert request["headers"]["Content-Type"] == "application/json"
    expected = hmac.new(WEBHOOK_SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["Pay-Signature"] == expected
    assert verify_webhook_signature(request["body"], request["headers"]["Pay-Signature"], WEBHOOK_SECRET)
    message = json.loads(request["body"])
    assert set(message) == {
        "webhook_message_id",
        "created_date",
        "resource_id",
        "api_version",
        "resource_type",
        "event_type",
        "resource",
    }
    assert message["api_version"] == 1 and message["resource_type"] == "payment"
    assert message["event_type"] == "card_payment_succeeded"
    assert message["resource_id"] == created["payment_id"]
    assert ISO_MS_Z.match(message["created_date"])
    assert "_links" not in message["resource"]
    assert message["resource"]["state"]["status"] == "success"


@pytest.mark.parametrize(
    "card,event_type",
    [("4000000000000002", "card_payment_failed"), ("4000000000000119", "card_payment_failed")],
)
def test_webhook_event_types(sandbox, http, webhook_receiver, card, event_type):
    sandbox.complete(create(sandbox, http)["payment_id"], card)
    assert json.loads(webhook_receiver.wait_for(1)[0]["body"])["event_type"] == event_type


def test_refund_sends_card_payment_refunded(sandbox, http, webhook_receiver):
    pid = paid(sandbox, http)["payment_id"]
    refund(sandbox, http, pid, 500, 4000)
    messages = [json.loads(r["body"]) for r in webhook_receiver.wait_for(2)]
    assert [m["event_type"] for m in messages] == ["card_payment_succeeded", "card_payment_refunded"]
    assert messages[1]["resource"]["refund_summary"]["amount_submitted"] == 500


def test_webhook_is_retried_after_a_non_2xx(sandbox, http, webhook_receiver):
    webhook_receiver.answers.extend([500, 503])
    sandbox.complete(create(sandbox, http)["payment_id"], "4444333322221111")

    received = webhook_receiver.wait_for(3)

    assert [r["status"] for r in received] == [500, 503, 200]
    assert len({json.loads(r["body"])["webhook_message_id"] for r in received}) == 1
    log = sandbox.wait_for_deliveries(3)
    assert [(d["attempt"], d["outcome"]) for d in log] == [(1, "failed"), (2, "failed"), (3, "delivered")]


def test_webhook_retries_stop_when_the_schedule_runs_out(sandbox, http, webhook_receiver):
    webhook_receiver.answers.extend([500] * 10)
    sandbox.complete(create(sandbox, http)["payment_id"], "4444333322221111")
    webhook_receiver.wait_for(4)
    time.sleep(0.2)
    assert len(webhook_receiver.received) == 4  # first try + the 3 retries of FAST_RETRIES


def test_webhook_drop(sandbox, http, webhook_receiver):
    sandbox.configure(webhook_drop=1)
    first = create(sandbox, http)["payment_id"]
    second = create(sandbox, http)["payment_id"]
    sandbox.complete(first, "4444333322221111")
    sandbox.complete(second, "4444333322221111")

    received = webhook_receiver.wait_for(1)

    assert [json.loads(r["body"])["resource_id"] for r in received] == [second]
    sandbox.wait_for_deliveries(2)  # the sandbox logs a delivery once the receiver has answered
    log = requests.get(f"{sandbox.base_url}/_sandbox/webhooks").json()["deliveries"]
    assert {(d["resource_id"], d["outcome"]) for d in log} == {(first, "dropped"), (second, "delivered")}


def test_webhook_duplicate(sandbox, http, webhook_receiver):
    sandbox.configure(webhook_duplicate=True)
    sandbox.complete(create(sandbox, http)["payment_id"], "4444333322221111")
    received = webhook_receiver.wait_for(2)
    assert len(received) == 2
    assert received[0]["body"] == received[1]["body"]


def test_webhook_reorder(sandbox, http, webhook_receiver):
    sandbox.configure(webhook_reorder=2)
    first = create(sandbox, http)["payment_id"]
    second = create(sandbox, http)["payment_id"]
    sandbox.complete(first, "4444333322221111")
    time.sleep(0.05)
    assert webhook_receiver.received == []  # held
    sandbox.complete(second, "4000000000000002")

    received = webhook_receiver.wait_for(2)

    assert [json.loads(r["body"])["resource_id"] for r in received] == [second, first]


def test_webhook_reorder_until_switched_off(sandbox, http, webhook_receiver):
    sandbox.configure(webhook_reorder=True)
    ids = [create(sandbox, http)["payment_id"] for _ in range(3)]
    for pid in ids:
        sandbox.complete(pid, "4444333322221111")
    assert requests.get(f"{sandbox.base_url}/_sandbox/webhooks").json()["held"] == 3
    requests.post(f"{sandbox.base_url}/_sandbox/config", json={"webhook_reorder": False})
    assert [json.loads(r["body"])["resource_id"] for r in webhook_receiver.wait_for(3)] == ids[::-1]


def test_webhook_delay(sandbox, http, webhook_receiver):
    sandbox.configure(webhook_delay=0.3)
    started = time.monotonic()
    sandbox.complete(create(sandbox, http)["payment_id"], "4444333322221111")
    webhook_receiver.wait_for(1)
    assert time.monotonic() - started >= 0.29


def test_no_webhooks_without_a_url(sandbox, http):
    sandbox.complete(create(sandbox, http)["payment_id"], "4444333322221111")
    assert sandbox.webhook_deliveries() == []


def test_flush_makes_waiting_retries_due(sandbox, http, webhook_receiver):
    sandbox.configure(webhook_retry_schedule=[3600])
    webhook_receiver.answers.append(500)
    sandbox.complete(create(sandbox, http)["payment_id"], "4444333322221111")
    sandbox.wait_for_deliveries(1)  # logged once answered: the retry is queued from then on
    requests.post(f"{sandbox.base_url}/_sandbox/webhooks/flush")
    assert [r["status"] for r in webhook_receiver.wait_for(2)] == [500, 200]


# --- creates that fail -----------------------------------------------------------


def test_fail_after_commit_answers_500_but_the_payment_exists(sandbox, http):
    requests.post(f"{sandbox.base_url}/_sandbox/config", json={"fail_next_creates_after_commit": 1})

    failed = http.post(f"{sandbox.base_url}/v1/payments", json=payment_request(reference="PP-FAIL-0001"))
    works = http.post(f"{sandbox.base_url}/v1/payments", json=payment_request(reference="PP-FINE-0001"))

    assert failed.status_code == 500 and failed.json()["code"] == "P0198"
    assert works.status_code == 201
    found = http.get(f"{sandbox.base_url}/v1/payments", params={"reference": "PP-FAIL-0001"}).json()
    assert found["total"] == 1 and found["results"][0]["state"]["status"] == "created"


def test_fail_before_commit_creates_nothing(sandbox, http):
    sandbox.configure(fail_next_creates_before_commit=1)
    failed = http.post(f"{sandbox.base_url}/v1/payments", json=payment_request())
    assert failed.status_code == 500 and failed.json()["code"] == "P0999"
    assert http.get(f"{sandbox.base_url}/v1/payments").json()["total"] == 0


# --- control API -----------------------------------------------------------------


def test_control_api(sandbox, http):
    base = f"{sandbox.base_url}/_sandbox"
    assert requests.get(f"{base}/health").json() == {"status": "ok"}
    bad = requests.post(f"{base}/config", json={"no_such_setting": 1})
    assert bad.status_code == 400 and "no_such_setting" in bad.json()["description"]
    assert requests.post(f"{base}/config", json={"expiry_seconds": -1}).status_code == 400
    assert requests.post(f"{base}/config", json={"expiry_seconds": 60}).json()["expiry_seconds"] == 60

    pid = create(sandbox, http)["payment_id"]
    assert requests.post(f"{base}/payments/{pid}/complete", json={"card_number": "1234"}).status_code == 400
    done = requests.post(f"{base}/payments/{pid}/complete", json={"card_number": "4000 0000 0000 0002"})
    assert done.status_code == 200 and done.json()["state"]["code"] == "P0010"
    assert requests.post(f"{base}/payments/{pid}/complete", json={"card_number": "4444333322221111"}).status_code == 409
    unknown = requests.post(f"{base}/payments/nosuch/complete", json={"card_number": "4444333322221111"})
    assert unknown.status_code == 404

    other = create(sandbox, http)["payment_id"]
    cancelled = requests.post(f"{base}/payments/{other}/complete", json={"cancel": True})
    assert cancelled.json()["state"]["code"] == "P0030"

    assert requests.post(f"{base}/reset").status_code == 200
    assert http.get(f"{sandbox.base_url}/v1/payments").json()["total"] == 0
    assert sandbox.settings()["expiry_seconds"] == 90 * 60


def test_runs_as_its_own_process():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "standins.pay",
            "--port",
            "0",
            "--api-key",
            "own-key",
            "--webhook-secret",
            "own-secret",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://\S+", line).group(0)
        assert requests.get(f"{url}/_sandbox/health", timeout=5).json() == {"status": "ok"}
        created = requests.post(
            f"{url}/v1/payments", json=payment_request(), headers={"Authorization": "Bearer own-key"}, timeout=5
        )
        assert created.status_code == 201
        assert requests.get(f"{url}/_sandbox/config", timeout=5).json()["webhook_secret"] == "own-secret"
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0  # generous: a loaded machine, coverage writing its data


@pytest.mark.parametrize("button, wallet", [("apple-pay", "Apple Pay"), ("google-pay", "Google Pay")])
def test_a_test_wallet_pays_without_card_details_and_says_which(sandbox, http, button, wallet):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)
    wallet_form = page_form(page, "/wallet")

    paid = requests.post(urljoin(link, wallet_form.action), data={"wallet": button}, allow_redirects=False)

    assert paid.status_code == 303
    body = http.get(f"{sandbox.base_url}/v1/payments/{created['payment_id']}").json()
    assert body["state"]["status"] == "success"
    assert body["card_details"]["wallet_type"] == wallet
    assert body["card_details"]["last_digits_card_number"] == "4242"


def test_an_unknown_wallet_pays_nothing(sandbox, http):
    created = create(sandbox, http)
    link = created["_links"]["next_url"]["href"]
    _, page = open_page(link)
    again = requests.post(urljoin(link, page_form(page, "/wallet").action), data={"wallet": "bitcoin"})
    assert again.status_code == 200
    assert http.get(f"{sandbox.base_url}/v1/payments/{created['payment_id']}").json()["state"]["status"] == "started"
