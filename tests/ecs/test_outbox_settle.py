"""A write ECS applies *after* the worker stopped waiting must not be written twice.

ECS can take longer than our timeout and still apply the write (ICD: "A write can take
effect and still time out"; "occasionally 30 s"). A ledger check made before such a
late write lands finds nothing, and writing again pays the penalty twice. The worker
therefore reads the ledger no sooner than `unknown_outcome_settle_seconds` after the
write began: the write-ahead commit moves the event's next_attempt_at there, so neither
a retry nor another worker (after this one died mid-call) can get in sooner.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.ecs import delivery
from penaltypay.ecs.models import OutboxEvent
from penaltypay.ecs.outbox import enqueue_payment
from penaltypay.ecs.outbox_worker import OutboxWorker
from standins.ecs import FaultPlan

pytestmark = pytest.mark.django_db(transaction=True)

PAID_AT = datetime.now(UTC) - timedelta(hours=1)
CLIENT_TIMEOUT = 0.8
LATE_MS = 1500  # ECS applies the write 0.7 s after the client gave up


def make_worker(ecs, clock, **policy):
    return OutboxWorker(
        lambda: EcsClient(ecs.url, timeout=CLIENT_TIMEOUT),
        concurrency=1,
        lease_seconds=30,
        respect_batch_window=False,
        clock=clock,
        rng=lambda: 0.0,
        policy=delivery.Policy(**policy),
    )


def pay(case, reference):
    with transaction.atomic():
        return enqueue_payment(
            case_reference=case.reference,
            payment_reference=reference,
            amount_pence=4000,
            paid_at=PAID_AT,
            channel="ONLINE",
            psp_reference=f"psp-{reference}",
        )


def run(worker):
    worker.run(threading.Event(), until_idle=True)


def wait_for_ledger(ecs, case, length, seconds=5.0):
    deadline = time.monotonic() + seconds
    while len(ecs.ledger(case.reference)) < length and time.monotonic() < deadline:
        time.sleep(0.05)
    return ecs.ledger(case.reference)


def times_out_then_lands_late(ecs, worker, case, reference):
    """The worker's write times out; ECS is quick again for everyone else, but this write is
    still on its way and lands later. (state.set_plan, unlike set_faults, leaves the
    in-flight call to finish its delay.)"""
    ecs.set_faults(latency_ms=LATE_MS)
    pay(case, reference)
    run(worker)
    event = OutboxEvent.objects.get()
    assert event.status == OutboxEvent.PENDING and event.outcome_unknown and event.attempts == 1
    ecs.state.set_plan(FaultPlan())
    assert ecs.ledger(case.reference) == []  # not there yet
    return event


def test_a_write_that_lands_after_the_timeout_is_not_written_again(ecs, reduced_case, clock):
    worker = make_worker(ecs, clock)  # the production settle time, 60 s
    event = times_out_then_lands_late(ecs, worker, reduced_case, "PP-LATE-0001")

    clock.advance(30)  # past any back-off, not past the settle time
    run(worker)
    event.refresh_from_db()
    assert event.attempts == 1 and event.status == OutboxEvent.PENDING  # nobody touched it
    assert len(wait_for_ledger(ecs, reduced_case, 1)) == 1  # the late write landed

    clock.advance(31)
    run(worker)
    event.refresh_from_db()
    assert event.status == OutboxEvent.SENT
    assert [e.payment_reference for e in ecs.ledger(reduced_case.reference)] == ["PP-LATE-0001"]
    assert worker.stats.found_in_ledger == 1


def test_without_a_settle_time_the_late_write_is_paid_twice(ecs, reduced_case, clock):
    """Why the settle time exists: the counterfactual, with it set to zero."""
    worker = make_worker(ecs, clock, unknown_outcome_settle_seconds=0)
    times_out_then_lands_late(ecs, worker, reduced_case, "PP-LATE-0002")

    clock.advance(10)  # past the back-off
    run(worker)  # reads the ledger (empty: the first write is still on its way) and writes again
    entries = wait_for_ledger(ecs, reduced_case, 2)
    assert [e.payment_reference for e in entries] == ["PP-LATE-0002", "PP-LATE-0002"]


def test_the_write_ahead_commit_holds_the_event_until_the_settle_time_even_if_the_worker_dies(
    ecs, reduced_case, clock, monkeypatch
):
    worker = make_worker(ecs, clock, unknown_outcome_settle_seconds=90)
    pay(reduced_case, "PP-LATE-0003")
    seen = {}

    def dies_mid_call(event, client):
        seen["row"] = OutboxEvent.objects.values("outcome_unknown", "next_attempt_at", "lease_expires_at").get()
        seen["at"] = clock()
        raise RuntimeError("the process is killed here")  # not an EcsError: nothing is recorded

    monkeypatch.setattr(worker, "_write", dies_mid_call)
    run(worker)
    row = seen["row"]
    assert row["outcome_unknown"] is True
    assert abs((row["next_attempt_at"] - (seen["at"] + timedelta(seconds=90))).total_seconds()) < 1
    assert abs((row["lease_expires_at"] - (seen["at"] + timedelta(seconds=30))).total_seconds()) < 1

    clock.advance(31)  # the dead worker's lease has expired ...
    assert worker.claim_next("another-worker") is None  # ... but a late write could still land
    clock.advance(60)
    claimed = worker.claim_next("another-worker")
    assert claimed is not None and claimed.outcome_unknown
