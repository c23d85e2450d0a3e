"""Chaos with refunds: payments taken and refunds requested and approved (two people, the
real sandbox provider) while ECS misbehaves at random and a worker process is SIGKILLed.
Every payment and refund must reach the simulator's ledger exactly once, and no refund
before its payment. PostgreSQL only (several worker processes share the database)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from penaltypay.adapters.factories import payment_provider
from penaltypay.ecs.models import OutboxEvent
from penaltypay.kernel.clock import london_date
from penaltypay.payments.models import Payment
from penaltypay.payments.refund_rules import RefundRuleBroken
from penaltypay.payments.refunds import approve_refund, request_refund
from penaltypay.payments.settlement import settle_payment
from standins.chaos import Workers, chaos_case, worker_env
from tests.infrastructure import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SEED = 20261128
CASES = 16
ROUNDS = 3
CLIENT_TIMEOUT = 1.0
DEADLINE_SECONDS = 90


def faults() -> dict:
    return {
        "latency_ms": [0, 20],
        "tail_ms": [int(CLIENT_TIMEOUT * 1000) + 200, int(CLIENT_TIMEOUT * 1000) + 600],
        "tail_probability": 0.03,
        "timeout_after_commit": 0.06,
        "hang_seconds": CLIENT_TIMEOUT + 0.5,
        "reset_before_commit": 0.05,
        "reset_after_commit": 0.05,
        "http_500_without_fault": 0.05,
        "seed": SEED,
    }


def take_payment(case, client, provider) -> Payment:
    payment = Payment.objects.create(
        reference=f"PP-{case.reference}-{Payment.objects.count():04d}",
        first_case_reference=case.reference,
        case_type="7A",
        amount_pence=4000,
        description="chaos",
    )
    created = client.create_payment(
        amount=4000,
        reference=payment.reference,
        description="chaos",
        return_url="http://127.0.0.1/return",
        language="en",
    )
    provider.complete(created.payment_id, "4444333322221111")
    return settle_payment(payment, client.get_payment(created.payment_id), source="return")


def test_refunds_approved_during_chaos_reach_the_ledger_once_and_after_their_payments(ecs, provider, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("several worker processes need PostgreSQL's row locks")
    rng = random.Random(SEED)
    provider.configure(rate_limit_per_second=0)
    today = london_date(datetime.now(UTC))
    cases = [chaos_case(f"{93_000_000 + i:08d}", today) for i in range(CASES)]
    for case in cases:
        ecs.put_case(case)
    ecs.set_faults(**faults())
    client = payment_provider()
    expected: dict[str, list[tuple[str, str]]] = {case.reference: [] for case in cases}
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
    try:
        workers.start("a")
        workers.start("b")
        for round_number in range(ROUNDS):
            for case in cases:
                payment = take_payment(case, client, provider)
                expected[case.reference].append(("PAYMENT", payment.reference))
                for amount in rng.sample([0, 0, 1000, 1500, 4000], k=2):
                    if not amount:
                        continue
                    try:
                        refund = request_refund(payment.reference, amount, "other", "chaos", by="fin.a")
                    except RefundRuleBroken:
                        continue  # more than remains: refused, as it should be
                    done = approve_refund(refund.reference, by="fin.b", note="", client=client)
                    assert done.status == "success", (done.status, done.failure_reason)
                    expected[case.reference].append(("REFUND", refund.reference))
            if round_number == 0:
                workers.kill("a")
                workers.start("c")
        started = time.monotonic()
        while OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists():
            assert workers.alive(), workers.tail()
            if time.monotonic() - started > DEADLINE_SECONDS:
                pytest.fail(
                    f"outbox did not drain: {OutboxEvent.objects.filter(status='pending').count()} pending\n"
                    + workers.tail()
                )
            time.sleep(0.25)
    finally:
        workers.stop_all()
        ecs.set_faults()

    assert not OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION).exists()
    refunds = sum(1 for entries in expected.values() for kind, _ in entries if kind == "REFUND")
    assert refunds >= CASES  # the run really refunded
    for case in cases:
        ledger = [(e.kind, e.refund_reference or e.payment_reference) for e in ecs.ledger(case.reference)]
        # Exactly once each (nothing lost, nothing doubled), in the order the money moved,
        # so never a refund before its payment.
        assert ledger == expected[case.reference], case.reference
    retried = OutboxEvent.objects.filter(attempts__gt=1).count()
    assert retried > 0  # the chaos was real
