"""Chaos with baskets: 20 baskets of 3 to 5 penalties paid through the checkout (the real
sandbox provider) while ECS times out after committing, resets connections and answers 500,
and a worker process is SIGKILLed mid-way. Every line must reach its own case's ledger
exactly once, with its own amount and the basket's one payment reference. PostgreSQL only
(several worker processes share the database)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from penaltypay.adapters.factories import payment_provider
from penaltypay.ecs.models import OutboxEvent
from penaltypay.kernel.clock import london_date
from penaltypay.payments import checkout
from penaltypay.payments.settlement import refresh_payment
from standins.chaos import Workers, chaos_case, worker_env
from tests.infrastructure import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SEED = 20261202
BASKETS = 20
CLIENT_TIMEOUT = 1.0
DEADLINE_SECONDS = 90


def faults() -> dict:
    return {
        "latency_ms": [0, 20],
        "timeout_after_commit": 0.08,
        "hang_seconds": CLIENT_TIMEOUT + 0.5,
        "reset_before_commit": 0.05,
        "reset_after_commit": 0.08,
        "http_500_without_fault": 0.05,
        "seed": SEED,
    }


def test_every_line_of_every_basket_reaches_its_case_once_whatever_ecs_and_the_workers_do(ecs, provider, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("several worker processes need PostgreSQL's row locks")
    rng = random.Random(SEED)
    provider.configure(rate_limit_per_second=0)
    today = london_date(datetime.now(UTC))
    client = payment_provider()
    expected: dict[str, tuple[str, int]] = {}  # case -> (payment reference, line amount)
    env = worker_env(
        database_url=database_url(),
        ecs_url=ecs.url,
        write_timeout=CLIENT_TIMEOUT,
        lease_seconds=3.0,
        backoff_base=0.2,
        backoff_cap=2.0,
        breaker_min_open=0.5,
        breaker_max_open=2.0,
        settle_seconds=3.0,
    )
    workers = Workers(env, tmp_path / "workers", concurrency=4)
    number = 0
    try:
        workers.start("a")
        workers.start("b")
        for basket in range(BASKETS):
            cases = []
            for _ in range(rng.randint(3, 5)):
                case = chaos_case(f"{94_000_000 + number:08d}", today)
                number += 1
                ecs.put_case(case)
                cases.append(case)
            ecs.set_faults(**faults())
            lines = [(case, checkout.quote(case).due.total_pence) for case in cases]
            started = checkout.check_out_basket(
                lines,
                checkout.Payer.keeper(f"fleet-{basket}"),
                email="",
                language="en",
                payer_reference=f"PO-{basket}",
                return_url_for=lambda payment: "http://127.0.0.1/return",
                client=client,
            )
            assert isinstance(started, checkout.Started), started
            provider.complete(started.payment.provider_payment_id, "4444333322221111")
            payment = refresh_payment(started.payment, client, source="return")
            assert payment.status == "success"
            for case, amount in lines:
                expected[case.reference] = (payment.reference, amount)
            if basket == BASKETS // 2:
                workers.kill("a")
                workers.start("c")
        began = time.monotonic()
        while OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists():
            assert workers.alive(), workers.tail()
            if time.monotonic() - began > DEADLINE_SECONDS:
                pytest.fail(
                    f"outbox did not drain: {OutboxEvent.objects.filter(status='pending').count()} pending\n"
                    + workers.tail()
                )
            time.sleep(0.25)
    finally:
        workers.stop_all()
        ecs.set_faults()

    assert not OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION).exists()
    assert len(expected) >= 3 * BASKETS
    for reference, (payment_reference, amount) in expected.items():
        ledger = [(e.kind, e.payment_reference, e.amount_pence) for e in ecs.ledger(reference)]
        assert ledger == [("PAYMENT", payment_reference, amount)], reference
    assert OutboxEvent.objects.filter(attempts__gt=1).exists()  # the chaos was real
