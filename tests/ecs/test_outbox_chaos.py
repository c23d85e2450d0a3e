"""Chaos: a few hundred payments and refunds over many cases, delivered by real worker
processes while ECS misbehaves at random, and one worker is SIGKILLed mid-run.

At the end the simulator's ledger must hold every payment and refund exactly once, in
enqueue order per case, and the outbox nothing but the deliberate exceptions.

Faults (seeded): writes that commit and then time out, resets before and after the
commit, HTTP 500 without a SOAP fault, a slow tail longer than the client's timeout (the
write lands *after* the client gave up), a SERVICE_UNAVAILABLE window, a window of
refused connections, two (then three) workers at once, one of them SIGKILLed.

PostgreSQL only: the workers are separate processes sharing the test database (SQLite
runs a single worker by design). The bigger version is bench/ecs_chaos_bench.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.db import connection

from penaltypay.ecs.models import OutboxEvent
from penaltypay.kernel.clock import london_date
from standins.chaos import Workers, build_scenario, enqueue, verify, worker_env
from tests.infrastructure import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SEED = 20261124
CASES = 60
PAYMENTS = 300
REFUND_RATIO = 0.3
CLIENT_TIMEOUT = 1.0
LEASE_SECONDS = 3.0
DEADLINE_SECONDS = 100  # the whole run normally takes well under a minute


def base_faults(scenario) -> dict:
    return {
        "latency_ms": [0, 20],
        # 2% of calls take longer than the client waits: the write is applied after it gave up.
        "tail_ms": [int(CLIENT_TIMEOUT * 1000) + 200, int(CLIENT_TIMEOUT * 1000) + 600],
        "tail_probability": 0.02,
        "timeout_after_commit": 0.04,
        "hang_seconds": CLIENT_TIMEOUT + 0.5,
        "reset_before_commit": 0.04,
        "reset_after_commit": 0.04,
        "http_500_without_fault": 0.04,
        "fault_for_case": scenario.fault_for_case,
        "seed": SEED,
    }


def counts() -> dict[str, int]:
    return {
        status: OutboxEvent.objects.filter(status=status).count()
        for status in (OutboxEvent.PENDING, OutboxEvent.SENT, OutboxEvent.EXCEPTION)
    }


def test_every_event_reaches_the_ledger_exactly_once_in_order_despite_chaos(ecs, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("several worker processes need PostgreSQL's row locks (the SQLite run has one worker)")

    now = datetime.now(UTC)
    scenario = build_scenario(
        seed=SEED, cases=CASES, payments=PAYMENTS, refund_ratio=REFUND_RATIO, today=london_date(now), now=now
    )
    for case in scenario.cases:
        ecs.put_case(case)
    ecs.set_faults(**base_faults(scenario))
    total = len(scenario.events)
    half = total // 2
    enqueue(scenario.events[:half])

    env = worker_env(
        database_url=database_url(),
        ecs_url=ecs.url,
        write_timeout=CLIENT_TIMEOUT,
        lease_seconds=LEASE_SECONDS,
        backoff_base=0.2,
        backoff_cap=2.0,
        breaker_min_open=0.5,
        breaker_max_open=2.0,
        # above the slowest write the simulator is told to make (the tail: 1.6 s)
        settle_seconds=3.0,
    )
    workers = Workers(env, tmp_path / "workers", concurrency=4)
    started = time.monotonic()
    timeline: list[str] = []

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - started:6.1f}s {what} {counts()}")

    try:
        workers.start("a")
        workers.start("b")
        note("workers a and b started")
        enqueued, killed, unavailable_at, refused = half, False, None, False
        while True:
            state = counts()
            if enqueued < total:  # the rest arrives while delivery is under way
                batch = scenario.events[enqueued : enqueued + 40]
                enqueue(batch)
                enqueued += len(batch)
            if not killed and state[OutboxEvent.SENT] >= total * 0.3:
                workers.kill("a")
                killed = True
                note("worker a SIGKILLed")
                workers.start("c")
                note("worker c started")
            if killed and unavailable_at is None and state[OutboxEvent.SENT] >= total * 0.45:
                ecs.set_faults(**base_faults(scenario), unavailable_for_seconds=3)
                unavailable_at = time.monotonic()
                note("ECS unavailable for 3 s")
            if unavailable_at and not refused and time.monotonic() - unavailable_at > 4:
                ecs.set_faults(**base_faults(scenario), refuse_connections_for_seconds=2)
                refused = True
                note("ECS refusing connections for 2 s")
            if enqueued == total and refused and state[OutboxEvent.PENDING] == 0:
                note("outbox drained")
                break
            assert workers.alive(), "every worker died:\n" + workers.tail()
            if time.monotonic() - started > DEADLINE_SECONDS:
                stuck = list(
                    OutboxEvent.objects.filter(status=OutboxEvent.PENDING)
                    .order_by("id")
                    .values(
                        "id",
                        "case_reference",
                        "kind",
                        "attempts",
                        "outcome_unknown",
                        "last_error",
                        "next_attempt_at",
                        "lease_owner",
                    )[:10]
                )
                pytest.fail(
                    f"the outbox did not drain in {DEADLINE_SECONDS} s: {counts()}\n"
                    f"first pending: {stuck}\n" + "\n".join(timeline) + "\n" + workers.tail()
                )
            time.sleep(0.25)
    finally:
        workers.stop_all()
        ecs.set_faults()

    ledgers = {
        case.reference: [(e.kind, e.refund_reference or e.payment_reference) for e in ecs.ledger(case.reference)]
        for case in scenario.cases
    }
    verdict = verify(scenario, ledgers)
    report = (
        f"{total} events ({scenario.payments} payments, {scenario.refunds} refunds) on {CASES} cases: "
        f"{verdict}\n" + "\n".join(timeline)
    )
    print(report)

    # Exactly once, in order per case.
    assert verdict.duplicates == 0, report
    assert verdict.order_violations == 0, report
    assert verdict.missing == 0, report
    assert verdict.unexpected == 0, report
    assert verdict.sent == total - len(scenario.deliberate_exceptions), report

    # Nothing left in the outbox but the deliberate exceptions, each stopped for the right reason.
    assert not OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists(), report
    stopped = {(e.kind, e.ledger_reference): e for e in OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION)}
    assert set(stopped) == set(scenario.deliberate_exceptions), report
    for key, event in stopped.items():
        if "CASE_CLOSED" in scenario.deliberate_exceptions[key]:
            assert "refunded" in event.exception_reason, event.exception_reason
        else:
            assert "invalid" in event.exception_reason, event.exception_reason
    for reference in scenario.untouchable_cases:
        assert ecs.ledger(reference) == []
    assert OutboxEvent.objects.filter(status=OutboxEvent.SENT).count() == verdict.sent

    # The chaos was real: writes were retried, and some found already in the ledger.
    retried = OutboxEvent.objects.filter(attempts__gt=1).count()
    assert retried > 0, report
