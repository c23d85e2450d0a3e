"""The outbox worker against the running ECS simulator: exactly once, in order per case,
and the right thing for every fault. (The randomised multi-process proof is test_outbox_chaos.py.)"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.cases.domain import COURT
from penaltypay.ecs.models import EcsBreaker, OutboxEvent
from penaltypay.ecs.outbox import backlog, enqueue_payment, enqueue_refund
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.payments.ecs_sync import record_delivered

pytestmark = pytest.mark.django_db(transaction=True)

PAID_AT = datetime.now(UTC) - timedelta(hours=1)


@pytest.fixture
def worker(ecs, clock):
    return OutboxWorker(
        lambda: EcsClient(ecs.url, timeout=1.0),
        on_delivered=record_delivered,
        concurrency=2,
        lease_seconds=30,
        respect_batch_window=False,
        clock=clock,
        rng=lambda: 0.0,
    )


def drain(worker, clock, rounds=8, step=400):
    """Deliver what is due, then move time past any back-off, a few times over."""
    for _ in range(rounds):
        worker.run(threading.Event(), until_idle=True)
        if not OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists():
            return
        clock.advance(step)


def pay(case, reference, amount=4000):
    with transaction.atomic():
        return enqueue_payment(
            case_reference=case.reference,
            payment_reference=reference,
            amount_pence=amount,
            paid_at=PAID_AT,
            channel="ONLINE",
            psp_reference=f"psp-{reference}",
        )


def refund(case, payment_reference, refund_reference, amount=1000):
    with transaction.atomic():
        return enqueue_refund(
            case_reference=case.reference,
            payment_reference=payment_reference,
            refund_reference=refund_reference,
            amount_pence=amount,
            refunded_at=PAID_AT,
        )


def ledger(ecs, case):
    return [(e.kind, e.refund_reference or e.payment_reference) for e in ecs.ledger(case.reference)]


def test_events_outside_a_transaction_are_refused(reduced_case):
    with pytest.raises(RuntimeError):
        enqueue_payment(
            case_reference=reduced_case.reference,
            payment_reference="PP-1",
            amount_pence=1,
            paid_at=PAID_AT,
            channel="ONLINE",
            psp_reference="x",
        )


def test_a_payment_reaches_the_ledger_once_with_its_authorisation_time(ecs, reduced_case, worker, clock):
    pay(reduced_case, "PP-AAAA-0001")
    drain(worker, clock)
    entries = ecs.ledger(reduced_case.reference)
    assert [(e.kind, e.payment_reference, e.amount_pence) for e in entries] == [("PAYMENT", "PP-AAAA-0001", 4000)]
    assert abs((entries[0].effective_at - PAID_AT).total_seconds()) < 1
    event = OutboxEvent.objects.get()
    assert event.status == OutboxEvent.SENT and event.receipt_number and not event.outcome_unknown
    drain(worker, clock)  # nothing is sent twice
    assert len(ecs.ledger(reduced_case.reference)) == 1


def test_a_write_that_took_effect_and_timed_out_is_not_repeated(ecs, reduced_case, worker, clock):
    ecs.set_faults(timeout_after_commit=1.0, hang_seconds=2.0)
    pay(reduced_case, "PP-AAAA-0002")
    worker.run(threading.Event(), until_idle=True)
    event = OutboxEvent.objects.get()
    assert event.status == OutboxEvent.PENDING and event.outcome_unknown and event.attempts == 1
    assert len(ecs.ledger(reduced_case.reference)) == 1  # it did take effect
    ecs.set_faults()
    drain(worker, clock)
    event.refresh_from_db()
    assert event.status == OutboxEvent.SENT
    assert ledger(ecs, reduced_case) == [("PAYMENT", "PP-AAAA-0002")]
    assert worker.stats.found_in_ledger == 1


def test_a_reset_before_commit_is_written_again_after_checking(ecs, reduced_case, worker, clock):
    ecs.set_faults(reset_before_commit=1.0)
    pay(reduced_case, "PP-AAAA-0003")
    worker.run(threading.Event(), until_idle=True)
    assert ecs.ledger(reduced_case.reference) == []
    ecs.set_faults()
    drain(worker, clock)
    assert ledger(ecs, reduced_case) == [("PAYMENT", "PP-AAAA-0003")]


def test_a_refund_never_overtakes_its_payment(ecs, reduced_case, put_case, worker, clock):
    other = put_case(reference="70000099", vrm="ZZ11ZZZ")
    ecs.set_faults(fault_for_case={reduced_case.reference: "SERVICE_UNAVAILABLE"})
    pay(reduced_case, "PP-AAAA-0004")
    refund(reduced_case, "PP-AAAA-0004", "RF-0001")
    pay(other, "PP-BBBB-0001")
    worker.run(threading.Event(), until_idle=True)
    assert ecs.ledger(reduced_case.reference) == []  # neither the payment nor the refund behind it
    assert ledger(ecs, other) == [("PAYMENT", "PP-BBBB-0001")]  # other cases keep moving
    ecs.set_faults()
    drain(worker, clock)
    assert ledger(ecs, reduced_case) == [("PAYMENT", "PP-AAAA-0004"), ("REFUND", "RF-0001")]


def test_money_for_a_closed_case_goes_to_exceptions_and_is_not_retried(ecs, put_case, reduced_case, worker, clock):
    closed = put_case(reference="70000098", vrm="CC11CCC", status=COURT)
    pay(closed, "PP-CCCC-0001")
    refund(closed, "PP-CCCC-0001", "RF-0002")  # held behind the exception
    pay(reduced_case, "PP-CCCC-0002")
    drain(worker, clock)
    event = OutboxEvent.objects.get(payment_reference="PP-CCCC-0001", kind="PAYMENT")
    assert event.status == OutboxEvent.EXCEPTION and "refund" in event.exception_reason
    assert event.attempts == 1
    assert ecs.ledger(closed.reference) == []
    assert ledger(ecs, reduced_case) == [("PAYMENT", "PP-CCCC-0002")]
    status = backlog()
    assert (status.exceptions, status.waiting, status.blocked_by_exception) == (1, 1, 1)


def test_a_validation_error_stops_that_item_alerts_and_the_rest_move(
    ecs, reduced_case, put_case, worker, clock, caplog
):
    other = put_case(reference="70000097", vrm="VV11VVV")
    ecs.set_faults(fault_for_case={other.reference: "VALIDATION_ERROR"})
    pay(other, "PP-DDDD-0001")
    pay(reduced_case, "PP-DDDD-0002")
    with caplog.at_level(logging.ERROR, logger="penaltypay.ecs.outbox_worker"):
        drain(worker, clock)
    assert OutboxEvent.objects.get(payment_reference="PP-DDDD-0001").status == OutboxEvent.EXCEPTION
    assert any(getattr(r, "alert", False) for r in caplog.records)
    assert ledger(ecs, reduced_case) == [("PAYMENT", "PP-DDDD-0002")]


def test_the_breaker_opens_on_a_dead_ecs_and_closes_when_it_answers(ecs, put_case, worker, clock):
    cases = [put_case(reference=f"7100000{i}", vrm=f"BR{i}1AAA") for i in range(7)]
    for i, case in enumerate(cases):
        pay(case, f"PP-EEEE-000{i}")
    ecs.set_faults(outage=True)
    worker.run(threading.Event(), until_idle=True)
    assert EcsBreaker.objects.get().state == "open"
    assert backlog().breaker_state == "open"
    assert worker.stats.breaker_waits >= 1
    ecs.set_faults()
    drain(worker, clock, step=200)
    assert EcsBreaker.objects.get().state == "closed"
    assert sum(len(ecs.ledger(c.reference)) for c in cases) == 7


def test_a_successful_payment_is_queued_with_it_and_marks_the_case_paid(reduced_case, provider, ecs, worker, clock):
    from django.test import Client

    from penaltypay.payments.models import Payment
    from tests.citizen.conftest import find

    client = Client()  # (this folder's `client` fixture is the ECS client)

    find(client, reduced_case.reference, reduced_case.vrm)
    client.post("/pay", {"email": ""})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    client.get(f"/pay/return/{payment.id}")
    payment.refresh_from_db()
    event = OutboxEvent.objects.get()
    assert (event.payment_reference, event.amount_pence, event.effective_at) == (
        payment.reference,
        payment.amount_pence,
        payment.authorised_at,
    )
    assert event.psp_reference == payment.psp_reference
    drain(worker, clock)
    payment.refresh_from_db()
    assert payment.ecs_recorded_at is not None
    assert ledger(ecs, reduced_case) == [("PAYMENT", payment.reference)]
    # ECS now knows, and so does our copy of the case: still shown as paid, not counted twice.
    page = client.get("/your-penalty").content.decode()
    assert "already been paid" in page


def test_backlog_is_visible_to_operators(ecs, put_case, reduced_case, worker, clock, settings):
    import json

    from django.core.management import call_command
    from django.test import Client

    closed = put_case(reference="70000096", vrm="CC22CCC", status=COURT)
    pay(closed, "PP-FFFF-0001")
    pay(reduced_case, "PP-FFFF-0002")
    drain(worker, clock)
    pay(reduced_case, "PP-FFFF-0003")  # waiting

    from io import StringIO

    out = StringIO()
    call_command("outbox_status", "--json", "--exceptions", stdout=out)
    status = json.loads(out.getvalue())
    assert (status["waiting"], status["exceptions"], status["breaker_state"], status["sent_total"]) == (
        1,
        1,
        "closed",
        1,
    )
    assert status["exception_events"][0]["payment_reference"] == "PP-FFFF-0001"

    web = Client()
    metrics = web.get("/metrics").content.decode()
    assert "penaltypay_ecs_outbox_waiting 1" in metrics
    assert "penaltypay_ecs_outbox_exceptions 1" in metrics
    assert 'penaltypay_ecs_breaker_state{state="closed"} 1' in metrics
    assert "penaltypay_ecs_outbox_oldest_waiting_seconds" in metrics

    settings.OPS_API_TOKEN = "s3cret"
    assert web.get("/metrics").status_code == 403
    assert web.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_an_operator_resolves_or_requeues_an_exception_and_it_is_audited(ecs, put_case, worker, clock, caplog):
    from dataclasses import replace

    from django.core.management import CommandError, call_command

    from penaltypay.staff.accounts import add_staff
    from penaltypay.staff.roles import Role

    account = add_staff(
        "a.person", [Role.SUPPORT], "a long enough passphrase", created_by="test", confirm_second_factor=True
    )
    from tests.staff_helpers import code_for

    def code(step: int) -> list[str]:  # a fresh code each time (one code is accepted once)
        return ["--code", code_for(account.device, step)]

    closed = put_case(reference="70000095", vrm="CC33CCC", status=COURT)
    first = pay(closed, "PP-GGGG-0001")
    second = pay(closed, "PP-GGGG-0002")  # held behind the first
    drain(worker, clock)
    assert OutboxEvent.objects.get(pk=first.pk).status == OutboxEvent.EXCEPTION
    assert OutboxEvent.objects.get(pk=second.pk).status == OutboxEvent.PENDING

    with pytest.raises(CommandError):
        call_command("outbox_exception", "resolve", str(second.pk), "--by", "a.person", "--note", "x", *code(0))

    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        call_command(
            "outbox_exception",
            "resolve",
            str(first.pk),
            "--by",
            "a.person",
            "--note",
            "refunded in full, provider refund r-123",
            *code(1),
        )
    resolved = OutboxEvent.objects.get(pk=first.pk)
    assert (resolved.status, resolved.handled_by) == (OutboxEvent.RESOLVED, "a.person")
    assert any(r.name == "penaltypay.security" and getattr(r, "by", "") == "a.person" for r in caplog.records)

    # ECS reopens the case; the second payment, no longer held, goes through.
    ecs.put_case(replace(closed, status="OPEN"))
    drain(worker, clock)
    assert ledger(ecs, closed) == [("PAYMENT", "PP-GGGG-0002")]

    # A re-queued exception is sent after the fix, still checking the ledger first.
    ecs.put_case(replace(closed, status=COURT))
    third = pay(closed, "PP-GGGG-0003")
    drain(worker, clock)
    assert OutboxEvent.objects.get(pk=third.pk).status == OutboxEvent.EXCEPTION
    ecs.put_case(replace(closed, status="OPEN"))
    call_command(
        "outbox_exception", "requeue", str(third.pk), "--by", "a.person", "--note", "ECS reopened it", *code(2)
    )
    drain(worker, clock)
    # (the simulator's put_case starts the case's ledger afresh)
    assert ledger(ecs, closed) == [("PAYMENT", "PP-GGGG-0003")]
    assert OutboxEvent.objects.get(pk=third.pk).status == OutboxEvent.SENT


class CountingWorker(OutboxWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.claims = 0
        self.claimed_by: set[str] = set()
        self._count_lock = threading.Lock()

    def claim_next(self, owner):
        event = super().claim_next(owner)
        with self._count_lock:
            self.claims += 1
            if event is not None:
                self.claimed_by.add(owner)
        return event


def test_an_idle_worker_asks_the_database_once_a_round_not_once_per_thread(ecs, reduced_case, put_case, clock):
    """Sixteen threads and nothing to deliver: one looks each round, the rest sleep; then a
    backlog arrives and still spreads over several threads, and every item reaches ECS."""
    worker = CountingWorker(
        lambda: EcsClient(ecs.url, timeout=2.0),
        on_delivered=record_delivered,
        concurrency=16,
        idle_seconds=0.1,
        respect_batch_window=False,
        clock=clock,
    )
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    runner.start()
    try:
        threading.Event().wait(2.0)
        idle_claims = worker.claims
        # Two seconds idle: 16 first looks and about 20 rounds, against 16 x 20 before.
        assert idle_claims < 16 + 40, idle_claims
        ecs.set_faults(latency_ms=[150, 150])
        cases = [put_case(reference=f"7100{n:04d}") for n in range(24)]
        for n, case in enumerate(cases):
            pay(case, f"PP-IDLE-{n:04d}")
        deadline = threading.Event()
        for _ in range(300):
            if not OutboxEvent.objects.exclude(status=OutboxEvent.SENT).exists():
                break
            deadline.wait(0.1)
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.SENT).exists()
    assert all(ledger(ecs, case) == [("PAYMENT", f"PP-IDLE-{n:04d}")] for n, case in enumerate(cases))
    # SQLite takes one writer at a time, so the worker runs one thread there.
    spread = 4 if connection.vendor == "postgresql" else 1
    assert len(worker.claimed_by) >= spread, f"only {len(worker.claimed_by)} threads delivered"


def test_a_closed_breaker_is_read_once_a_second_not_twice_a_delivery(ecs, put_case, worker, monkeypatch):
    """The breaker's row was read before and after every delivery (two queries each, the
    workers' largest share of a payment's CPU after the SOAP call itself). A breaker seen
    closed with no failures is trusted for a second: another worker opening it meanwhile
    costs at most a second of calls, and any failure here reads it again at once."""
    reads = []
    load = worker.breaker._load_breaker

    def counted():
        reads.append(1)
        return load()

    monkeypatch.setattr(worker.breaker, "_load_breaker", counted)
    cases = [put_case(reference=f"7400{n:04d}") for n in range(12)]
    for n, case in enumerate(cases):
        pay(case, f"PP-B{n:03d}")
    worker.run(threading.Event(), until_idle=True)
    assert OutboxEvent.objects.filter(status=OutboxEvent.SENT).count() == 12
    assert len(reads) <= 4, len(reads)  # was 24: before and after each of the twelve
