"""Refunds against the sandbox provider and the ECS simulator: four eyes, the remaining
amount, the provider's answers, and ECS told exactly once, after the payment."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.factories import payment_provider
from penaltypay.cases.domain import COURT
from penaltypay.ecs.models import OutboxEvent
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.payments.ecs_sync import record_delivered
from penaltypay.payments.models import Refund
from penaltypay.payments.recheck import recheck_payments
from penaltypay.payments.refund_rules import RefundRuleBroken, RefundStatus
from penaltypay.payments.refunds import (
    RESUBMIT_AFTER,
    approve_refund,
    reject_refund,
    remaining_refundable,
    request_refund,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(provider):
    return payment_provider()


def deliver(ecs, clock, rounds=6):
    worker = OutboxWorker(
        lambda: EcsClient(ecs.url, timeout=1.0),
        on_delivered=record_delivered,
        concurrency=1,
        lease_seconds=30,
        respect_batch_window=False,
        clock=clock,
        rng=lambda: 0.0,
    )
    for _ in range(rounds):
        worker.run(threading.Event(), until_idle=True)
        if not OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists():
            return
        clock.advance(600)


def ledger(ecs, case):
    entries = ecs.ledger(case.reference) or []
    return [(e.kind, e.refund_reference or e.payment_reference, e.amount_pence) for e in entries]


def test_two_people_refund_part_then_the_rest_and_ecs_gets_both_after_the_payment(
    reduced_case, pay_online, client, ecs, clock, mailoutbox
):
    payment = pay_online(reduced_case)
    first = request_refund(payment.reference, 1500, "overpaid", "paid £15 too much", by="fin.a")
    assert remaining_refundable(payment) == 2500
    with pytest.raises(RefundRuleBroken, match="£25 or less"):
        request_refund(payment.reference, 2501, "other", "", by="fin.a")
    with pytest.raises(RefundRuleBroken, match="another finance user"):
        approve_refund(first.reference, by="fin.a", note="", client=client)
    done = approve_refund(first.reference, by="fin.b", note="checked the bank statement", client=client)
    assert (done.status, done.decided_by, done.ecs_note) == ("success", "fin.b", "queued")
    second = request_refund(payment.reference, 2500, "duplicate", "", by="fin.b")
    assert approve_refund(second.reference, by="fin.a", note="ok", client=client).status == "success"
    assert remaining_refundable(payment) == 0
    deliver(ecs, clock)
    assert ledger(ecs, reduced_case) == [
        ("PAYMENT", payment.reference, 4000),
        ("REFUND", first.reference, 1500),
        ("REFUND", second.reference, 2500),
    ]
    subjects = [m.subject for m in mailoutbox]
    assert subjects.count("Refund of £15 for penalty 70000001") == 1
    assert subjects.count("Refund of £25 for penalty 70000001") == 1


def test_a_refund_approved_before_its_payment_reached_ecs_waits_for_it(reduced_case, pay_online, client, ecs, clock):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 4000, "duplicate", "", by="fin.a")
    approve_refund(refund.reference, by="fin.b", note="", client=client)
    events = list(OutboxEvent.objects.order_by("id").values_list("kind", "payment_reference", "refund_reference"))
    assert events == [("PAYMENT", payment.reference, ""), ("REFUND", payment.reference, refund.reference)]
    deliver(ecs, clock)
    assert [kind for kind, _, _ in ledger(ecs, reduced_case)] == ["PAYMENT", "REFUND"]


def test_rejecting_gives_the_amount_back_and_sends_nothing(reduced_case, pay_online, client, sandbox):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 4000, "other", "", by="fin.a")
    with pytest.raises(RefundRuleBroken):
        reject_refund(refund.reference, by="fin.a", note="changed my mind")
    rejected = reject_refund(refund.reference, by="fin.b", note="not owed")
    assert rejected.status == "rejected" and remaining_refundable(payment) == 4000
    with pytest.raises(RefundRuleBroken, match="already been approved or rejected"):
        approve_refund(refund.reference, by="fin.c", note="", client=client)
    assert client.list_refunds(payment.provider_payment_id) == []


def test_only_a_successful_payment_is_refunded_and_a_reason_is_needed(reduced_case, pay_online):
    payment = pay_online(reduced_case, card="4000000000000002")  # declined
    with pytest.raises(RefundRuleBroken, match="Only a successful payment"):
        request_refund(payment.reference, 100, "other", "", by="fin.a")
    with pytest.raises(RefundRuleBroken, match="Choose a reason"):
        request_refund(payment.reference, 100, "because", "", by="fin.a")


def test_the_provider_failing_a_refund_is_recorded_and_nothing_goes_to_ecs(reduced_case, pay_online, client, sandbox):
    payment = pay_online(reduced_case)
    sandbox.configure(fail_next_refunds=1)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    failed = approve_refund(refund.reference, by="fin.b", note="", client=client)
    assert failed.status == "error" and "no money moved" in failed.failure_reason
    assert remaining_refundable(payment) == 4000
    assert not OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND).exists()


def test_the_provider_refusing_says_why(reduced_case, pay_online, client, sandbox):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 4000, "other", "", by="fin.a")
    # Someone refunded it at the provider directly (outside this service).
    remote = client.get_payment(payment.provider_payment_id)
    client.create_refund(payment.provider_payment_id, 4000, remote.refund_amount_available)
    refused = approve_refund(refund.reference, by="fin.b", note="", client=client)
    assert refused.status == "refused" and "P0603" in refused.failure_reason


def test_an_unreachable_provider_leaves_it_approved_and_the_rechecker_sends_it_once(
    reduced_case, pay_online, client, sandbox, settings
):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    settings.PAY_API_URL = "http://127.0.0.1:9"  # nothing listens
    waiting = approve_refund(refund.reference, by="fin.b", note="", client=payment_provider())
    assert waiting.status == "submitting" and not waiting.submit_unknown
    settings.PAY_API_URL = sandbox.base_url
    # Too soon: the approver may still be asking.
    recheck_payments(client, older_than=timedelta(0))
    assert Refund.objects.get(pk=refund.pk).status == "submitting"
    Refund.objects.filter(pk=refund.pk).update(updated_at=timezone.now() - RESUBMIT_AFTER - timedelta(seconds=1))
    report = recheck_payments(client, older_than=timedelta(0))
    assert report.refunds_moved == 1 and Refund.objects.get(pk=refund.pk).status == "success"
    assert len(client.list_refunds(payment.provider_payment_id)) == 1


def test_an_unknown_outcome_is_found_at_the_provider_not_sent_twice(reduced_case, pay_online, client, sandbox):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    # As if the approver's create took effect but the answer was lost.
    Refund.objects.filter(pk=refund.pk).update(
        status=RefundStatus.SUBMITTING.value,
        decided_by="fin.b",
        submit_unknown=True,
        updated_at=timezone.now() - RESUBMIT_AFTER - timedelta(seconds=1),
    )
    remote = client.get_payment(payment.provider_payment_id)
    made = client.create_refund(payment.provider_payment_id, 1000, remote.refund_amount_available)
    recheck_payments(client, older_than=timedelta(0))
    adopted = Refund.objects.get(pk=refund.pk)
    assert (adopted.status, adopted.provider_refund_id) == ("success", made.refund_id)
    assert len(client.list_refunds(payment.provider_payment_id)) == 1


def test_a_full_refund_of_a_payment_ecs_refused_resolves_the_exception(put_case, pay_online, client, ecs, clock):
    case = put_case(reference="70000777", vrm="CL05ED")
    payment = pay_online(case)
    from dataclasses import replace

    ecs.put_case(replace(case, status=COURT))
    deliver(ecs, clock)
    paid_event = OutboxEvent.objects.get(payment_reference=payment.reference, kind=OutboxEvent.KIND_PAYMENT)
    assert paid_event.status == OutboxEvent.EXCEPTION
    refund = request_refund(payment.reference, 4000, "case-closed", "", by="fin.a")
    done = approve_refund(refund.reference, by="fin.b", note="", client=client)
    assert done.status == "success" and done.ecs_note.startswith("not sent")
    paid_event.refresh_from_db()
    assert (paid_event.status, paid_event.handled_by) == (OutboxEvent.RESOLVED, "penaltypay")
    assert refund.reference in paid_event.handling_note
    assert not OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND).exists()
    assert ledger(ecs, case) == []


def test_resolving_a_payment_exception_resolves_its_waiting_refunds(put_case, pay_online, client, ecs, clock):
    from dataclasses import replace

    from penaltypay.ecs.outbox import resolve_exception

    case = put_case(reference="70000778", vrm="CL06ED")
    payment = pay_online(case)
    ecs.put_case(replace(case, status=COURT))
    deliver(ecs, clock)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    approve_refund(refund.reference, by="fin.b", note="", client=client)
    refund_event = OutboxEvent.objects.get(kind=OutboxEvent.KIND_REFUND)
    assert refund_event.status == OutboxEvent.PENDING  # held behind the payment's exception
    paid_event = OutboxEvent.objects.get(kind=OutboxEvent.KIND_PAYMENT)
    resolve_exception(paid_event.pk, by="sup.port", note="paid into the wrong case; dealt with by hand")
    refund_event.refresh_from_db()
    assert refund_event.status == OutboxEvent.RESOLVED
    deliver(ecs, clock)
    assert ledger(ecs, case) == []


def test_two_requests_at_once_never_promise_more_than_was_paid(reduced_case, pay_online):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    payment = pay_online(reduced_case)

    def ask(n):
        try:
            request_refund(payment.reference, 3000, "other", f"attempt {n}", by=f"fin.{n}")
            return "made"
        except RefundRuleBroken:
            return "refused"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(ask, range(6)))
    assert results.count("made") == 1
    assert remaining_refundable(payment) == 1000
