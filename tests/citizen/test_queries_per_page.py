"""How many database queries each step of a payment costs (SQLite counts its BEGIN and
COMMIT too; PostgreSQL's are fewer). A change that makes a page ask more fails here: the
figures are the ones bench/README.md's profile starts from."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from penaltypay.payments.models import Payment

pytestmark = pytest.mark.django_db(transaction=True)

MOST = {
    "start": 0,
    "find page": 0,
    # Since the profile: the session is written when it changes or once a minute, not on
    # every request (-3 on each page that only reads it), and a new one is not cycled (-3).
    "look-up": 15,
    "penalty": 4,
    "pay page": 4,
    # Since the profile: the provider's fee and settled date kept on return (issue 24, +1),
    # and a payment's lines (one per penalty, issue 25) where they are written (+1), settled,
    # freed and put on the receipt (+3), and shown (+1).
    "pay": 21,
    "return": 15,
    "confirmation": 5,
}
# Without Redis (the embedded default, the SQLite pass) the rate limits and card-testing
# pauses are kept in the database too, one statement each: the look-up's three counts and
# the pay step's two pause reads and its turn at the provider's rate limit (ADR 0027).
# Counted apart from the page's own queries.
LIMIT_STORE = {"look-up": 3, "pay": 3}


def test_each_step_of_a_payment_asks_the_database_no_more_than_its_budget(reduced_case, provider):
    keeper = Client()
    counts = {}

    def step(name, call):
        with CaptureQueriesContext(connection) as queries:
            response = call()
        assert response.status_code < 400, (name, response.status_code)
        store = [q for q in queries.captured_queries if "shared_count" in q["sql"]]
        counts[name] = len(queries.captured_queries) - len(store)
        assert len(store) <= LIMIT_STORE.get(name, 0), (name, [q["sql"][:80] for q in store])

    step("start", lambda: keeper.get("/"))
    step("find page", lambda: keeper.get("/find-your-penalty"))
    step("look-up", lambda: keeper.post("/find-your-penalty", {"reference": "70000001", "registration": "AB12CDE"}))
    step("penalty", lambda: keeper.get("/your-penalty"))
    step("pay page", lambda: keeper.get("/pay"))
    step("pay", lambda: keeper.post("/pay", {"email": "keeper@example.com"}))
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    step("return", lambda: keeper.get(f"/pay/return/{payment.id}"))
    step("confirmation", lambda: keeper.get(f"/pay/complete/{payment.id}"))
    over = {name: (count, MOST[name]) for name, count in counts.items() if count > MOST[name]}
    assert over == {}, f"queries over budget (count, budget): {over}"
