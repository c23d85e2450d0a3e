"""POST/GET /api/v1/payments: idempotency, reading, and paging that loses nothing."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from penaltypay.payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {
    "reference": "70000001",
    "registration": "AB12CDE",
    "return_url": "https://service.example/back",
    "email": "keeper@example.com",
}


@pytest.fixture
def token(api_token):
    return api_token("payments:write", "payments:read")


def test_a_payment_for_the_amount_due_now_with_the_payers_card_page(api, token, reduced_case, provider):
    response = api("post", "/api/v1/payments", token, json=BODY)
    body = response.json()
    assert response.status_code == 201 and body["amount_pence"] == 4000 and body["status"] == "in_progress"
    assert body["next_url"].startswith(provider.base_url)
    payment = Payment.objects.get()
    assert (payment.created_by, payment.channel) == ("api:client-0", "ONLINE")
    read = api("get", f"/api/v1/payments/{payment.reference}", token).json()
    assert read["payment_reference"] == payment.reference and read["ecs"] == {
        "status": "not_queued",
        "recorded_at": None,
    }
    assert read["next_url"] is None  # the card page is for the payer, handed out once


def test_the_same_key_and_body_give_the_same_payment_another_body_is_refused(api, token, reduced_case, provider):
    first = api("post", "/api/v1/payments", token, json=BODY, **{"Idempotency-Key": "call-1"})
    again = api("post", "/api/v1/payments", token, json=BODY, **{"Idempotency-Key": "call-1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["payment_reference"] == again.json()["payment_reference"]
    other = api(
        "post", "/api/v1/payments", token, json={**BODY, "email": "other@example.com"}, **{"Idempotency-Key": "call-1"}
    )
    assert other.status_code == 422 and other.json()["type"] == "/api/v1/problems/idempotency-key-reused"
    assert Payment.objects.count() == 1


def test_two_requests_at_once_with_one_key_make_one_payment(token, reduced_case, provider):
    answers = []

    def call():
        response = Client().post(
            "/api/v1/payments",
            data=json.dumps(BODY),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="twin",
        )
        answers.append((response.status_code, response.json().get("payment_reference")))
        connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Payment.objects.count() == 1
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert len({reference for _, reference in answers}) == 1


def test_a_failed_request_frees_its_key(api, token, reduced_case, provider):
    wrong = api("post", "/api/v1/payments", token, json={**BODY, "registration": "ZZ99ZZZ"}, **{"Idempotency-Key": "k"})
    assert wrong.status_code == 404
    assert (
        api(
            "post", "/api/v1/payments", token, json={**BODY, "registration": "ZZ99ZZZ"}, **{"Idempotency-Key": "k"}
        ).status_code
        == 404
    )


def test_a_twin_waiting_on_a_request_that_fails_gets_a_problem_never_a_500(token, reduced_case, provider, monkeypatch):
    """The first request holds the key and fails (the case cannot be found); the twin waiting
    on the same key goes ahead on its own once the key is let go: a problem, never a 500."""
    from penaltypay.api import lookups

    real_look_up = lookups.look_up
    first_in = threading.Event()

    def slow_look_up(client, reference, registration):
        first_in.set()
        time.sleep(0.5)  # the twin is waiting on the key meanwhile
        return real_look_up(client, reference, registration)

    monkeypatch.setattr(lookups, "look_up", slow_look_up)
    wrong = {**BODY, "registration": "ZZ99ZZZ"}
    answers = {}

    def call(name):
        answers[name] = Client(raise_request_exception=False).post(
            "/api/v1/payments",
            data=json.dumps(wrong),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="fails",
        )
        connection.close()

    first = threading.Thread(target=call, args=("first",))
    first.start()
    first_in.wait(5)
    call("twin")
    first.join()
    for response in answers.values():
        assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_a_key_is_released_whatever_the_first_request_failed_with(api, token, reduced_case, provider, monkeypatch):
    from penaltypay.api import payments

    real_create = payments.create
    calls = []

    def breaks_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a fault nobody foresaw")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(payments, "create", breaks_once)
    broken = Client(raise_request_exception=False).post(
        "/api/v1/payments",
        data=json.dumps(BODY),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_IDEMPOTENCY_KEY="retry-me",
    )
    assert broken.status_code == 500
    again = api("post", "/api/v1/payments", token, json=BODY, **{"Idempotency-Key": "retry-me"})
    assert again.status_code == 201  # not a 409 "still in progress" for ever


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"return_url": "http://evil.example/"}, "return_url"),
        ({"return_url": "not a url"}, "return_url"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_payment_details_are_422(api, token, reduced_case, provider, changes, field):
    response = api("post", "/api/v1/payments", token, json={**BODY, **changes})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field
    assert not Payment.objects.exists()


def test_a_penalty_already_paid_is_not_payable(api, token, reduced_case, pay_online):
    pay_online(reduced_case)
    response = api("post", "/api/v1/payments", token, json=BODY)
    assert response.status_code == 422 and response.json()["type"] == "/api/v1/problems/case-not-payable"


def test_an_unknown_payment_is_404(api, token):
    response = api("get", "/api/v1/payments/PP-NONE-0000", token)
    assert response.status_code == 404 and response.json()["type"] == "/api/v1/problems/payment-not-found"


def make(n: int, at) -> list[Payment]:
    """n payments stamped `at`."""
    made = [
        Payment.objects.create(
            reference=f"PP-PAGE-{at:%H%M%S%f}-{i}",
            first_case_reference="70000001",
            case_type="7A",
            amount_pence=100,
            description="x",
            status="failed",
        )
        for i in range(n)
    ]
    Payment.objects.filter(pk__in=[p.pk for p in made]).update(created_at=at)
    for payment in made:
        payment.created_at = at
    return made


def test_cursor_paging_loses_and_repeats_nothing_while_payments_arrive(api, token):
    base = timezone.now() - timedelta(hours=1)
    first = make(5, base)
    for i, payment in enumerate(first):
        Payment.objects.filter(pk=payment.pk).update(created_at=base + timedelta(seconds=i // 2))  # ties too
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/payments?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api("get", url, token).json()
        seen += [item["payment_reference"] for item in page["items"]]
        pages += 1
        if pages == 2:
            make(3, base + timedelta(minutes=1))  # new payments arrive while the client pages
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert len(seen) == len(set(seen)) == Payment.objects.count() == 8


def test_a_payment_still_committing_is_not_passed_by_the_cursor(api, token, settings):
    """Two payments made at once can commit out of order: the list holds back the newest
    seconds so that the later-stamped one is never listed before the earlier one is seen."""
    settings.API_LIST_SETTLE_SECONDS = 1
    (older,) = make(1, timezone.now() - timedelta(minutes=5))
    page = api("get", "/api/v1/payments", token).json()
    assert [i["payment_reference"] for i in page["items"]] == [older.reference]
    (young,) = make(1, timezone.now())  # stamped now, as if its commit had only just landed

    polled = api("get", f"/api/v1/payments?cursor={page['next_cursor']}", token).json()
    assert polled["items"] == [] and polled["has_more"] is False
    assert polled["next_cursor"] == page["next_cursor"]  # the client keeps its place
    time.sleep(1.1)
    later = api("get", f"/api/v1/payments?cursor={polled['next_cursor']}", token).json()
    assert [i["payment_reference"] for i in later["items"]] == [young.reference]


def test_filters_and_bad_parameters(api, token):
    make(2, timezone.now())
    assert len(api("get", "/api/v1/payments?status=failed", token).json()["items"]) == 2
    assert api("get", "/api/v1/payments?status=success", token).json()["items"] == []
    bad = api("get", "/api/v1/payments?cursor=not-a-cursor", token)
    assert bad.status_code == 400 and bad.json()["type"] == "/api/v1/problems/invalid-cursor"
    naive = api("get", "/api/v1/payments?from=2026-11-28T00:00:00", token)
    assert naive.status_code == 422
    assert api("get", "/api/v1/payments?from=2026-11-28T00:00:00Z", token).status_code == 200
    assert api("get", "/api/v1/payments?limit=500", token).status_code == 422
    # ISO 8601 allows offsets PostgreSQL does not, and times that leave the calendar in UTC.
    assert api("get", "/api/v1/payments?to=0510-01-18T02:33:23-19:04", token).status_code == 200
    assert api("get", "/api/v1/payments?from=0001-01-01T00:30:00%2B01:00", token).status_code == 422
    assert api("get", "/api/v1/payments?status=nonsense", token).status_code == 422


def test_several_penalties_in_one_payment_each_line_with_its_amount(api, token, put_case, today, provider):
    from penaltypay.cases.domain import COURT

    cases = [
        put_case(reference="75000001", vrm="FL01EET"),
        put_case(reference="75000002", vrm="FL02EET", reduction_deadline=today - timedelta(days=1)),
    ]
    body = {
        "cases": [{"reference": c.reference, "registration": c.vrm} for c in cases],
        "your_reference": "PO-9",
        "return_url": "https://service.example/back",
    }
    created = api("post", "/api/v1/payments", token, json=body, **{"Idempotency-Key": "fleet-1"})
    assert created.status_code == 201, created.json()
    answer = created.json()
    assert answer["amount_pence"] == 4000 + 8000 and answer["your_reference"] == "PO-9"
    assert [(line["case_reference"], line["amount_pence"]) for line in answer["lines"]] == [
        ("75000001", 4000),
        ("75000002", 8000),
    ]
    again = api("post", "/api/v1/payments", token, json=body, **{"Idempotency-Key": "fleet-1"})
    assert again.status_code == 200 and again.json()["payment_reference"] == answer["payment_reference"]
    assert Payment.objects.count() == 1

    both = api("post", "/api/v1/payments", token, json={**body, "reference": "75000001", "registration": "FL01EET"})
    assert both.status_code == 422
    twice = api("post", "/api/v1/payments", token, json={**body, "cases": body["cases"] * 2})
    assert twice.status_code == 422
    # The same penalty written two ways: refused as a bad request, before ECS is asked.
    spelt_twice = [
        {"reference": "75000011", "registration": "FL01EET"},
        {"reference": "7500-0011", "registration": "FL01EET"},
    ]
    written_twice = api("post", "/api/v1/payments", token, json={**body, "cases": spelt_twice})
    assert written_twice.status_code == 422, written_twice.content
    assert written_twice.json()["errors"] == [{"field": "cases.1.reference", "message": "the same penalty as cases.0"}]

    put_case(reference="75000003", vrm="FL03EET", status=COURT)
    refused = api(
        "post",
        "/api/v1/payments",
        token,
        json={
            "cases": [{"reference": "75000003", "registration": "FL03EET"}],
            "return_url": "https://service.example/back",
        },
    )
    assert refused.status_code == 422 and refused.json()["errors"] == [{"field": "cases.75000003", "message": "court"}]


def test_at_the_providers_rate_limit_the_api_answers_429_with_retry_after(api, token, reduced_case, provider, settings):
    from tests.providers import hold_the_providers_turns

    settings.PAY_RATE_LIMIT_MAX_WAIT_SECONDS = 1
    hold_the_providers_turns(4)  # other payers hold every turn for four seconds
    response = api("post", "/api/v1/payments", token, json=BODY)
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 4
    assert response.json()["type"].endswith("provider-busy")
    assert not Payment.objects.filter(status__in=["new", "created", "in_progress", "create_unknown"]).exists()
    time.sleep(int(response["Retry-After"]))
    assert api("post", "/api/v1/payments", token, json=BODY).status_code == 201  # the next try goes through
