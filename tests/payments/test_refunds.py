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
    adopt_provider_refund,
    approve_refund,
    ask_provider_again,
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
    # Too soon: nobody asks again until the pause after an unreachable provider is over.
    recheck_payments(client, older_than=timedelta(0))
    assert Refund.objects.get(pk=refund.pk).status == "submitting"
    Refund.objects.filter(pk=refund.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    report = recheck_payments(client, older_than=timedelta(0))
    assert report.refunds_moved == 1 and Refund.objects.get(pk=refund.pk).status == "success"
    assert len(client.list_refunds(payment.provider_payment_id)) == 1


def lost_answer(refund, *, landed: bool, client, payment):
    """As if the approver's create was sent and its answer lost (it landed or it did not)."""
    Refund.objects.filter(pk=refund.pk).update(
        status=RefundStatus.SUBMITTING.value, decided_by="fin.b", submit_unknown=True, lease_until=None
    )
    if landed:
        remote = client.get_payment(payment.provider_payment_id)
        return client.create_refund(payment.provider_payment_id, 1000, remote.refund_amount_available)
    return None


def test_an_unknown_outcome_is_never_settled_by_matching_the_amount(reduced_case, pay_online, client, sandbox):
    """The provider's refunds carry no reference of ours: one there that we did not record
    may be ours or one made by hand in its console. A person says which; nothing is asked
    of the provider twice meanwhile."""
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    made = lost_answer(refund, landed=True, client=client, payment=payment)

    recheck_payments(client, older_than=timedelta(0))

    waiting = Refund.objects.get(pk=refund.pk)
    assert (waiting.status, waiting.provider_refund_id) == ("unknown", "")
    assert made.refund_id in waiting.failure_reason
    assert len(client.list_refunds(payment.provider_payment_id)) == 1
    recheck_payments(client, older_than=timedelta(0))
    assert len(client.list_refunds(payment.provider_payment_id)) == 1  # still not asked again

    adopted = adopt_provider_refund(
        refund.reference, made.refund_id, by="fin.c", note="ours: console checked", client=client
    )
    assert (adopted.status, adopted.provider_refund_id) == ("success", made.refund_id)
    steps = list(adopted.events.values_list("from_status", "to_status", "source"))
    assert steps[-2:] == [("unknown", "submitted", "person"), ("submitted", "success", "provider")]


def test_a_refund_made_by_hand_is_not_adopted_and_ours_is_asked_for_again(reduced_case, pay_online, client, sandbox):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    by_hand = lost_answer(refund, landed=True, client=client, payment=payment)  # same amount, not ours
    recheck_payments(client, older_than=timedelta(0))
    assert Refund.objects.get(pk=refund.pk).status == "unknown"

    again = ask_provider_again(refund.reference, by="fin.c", note="that one was made by hand", client=client)

    assert again.status == "success" and again.provider_refund_id != by_hand.refund_id
    assert len(client.list_refunds(payment.provider_payment_id)) == 2


def test_an_unknown_outcome_with_nothing_at_the_provider_is_asked_once_more(reduced_case, pay_online, client, sandbox):
    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    lost_answer(refund, landed=False, client=client, payment=payment)
    recheck_payments(client, older_than=timedelta(0))
    assert Refund.objects.get(pk=refund.pk).status == "success"
    assert len(client.list_refunds(payment.provider_payment_id)) == 1


def test_a_refund_approved_while_the_provider_is_slow_is_sent_once(reduced_case, pay_online, client, sandbox):
    """The approver's call is slow; the re-checker runs meanwhile, again and again: the lease
    keeps it off (no timing assumption), and the provider gets one refund."""
    import threading

    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")
    sandbox.configure(refund_delay=1.5)
    approved = {}
    approver = threading.Thread(
        target=lambda: approved.setdefault(
            "refund", approve_refund(refund.reference, by="fin.b", note="", client=payment_provider())
        )
    )
    approver.start()
    while approver.is_alive():
        recheck_payments(client, older_than=timedelta(0))
    approver.join()
    sandbox.configure(refund_delay=0)
    assert approved["refund"].status == "success"
    assert len(client.list_refunds(payment.provider_payment_id)) == 1
    moves = [(e.to_status, e.source) for e in Refund.objects.get(pk=refund.pk).events.all()]
    assert moves[:3] == [("requested", "request"), ("submitting", "decision"), ("submitted", "provider")]
    # Once submitted, whoever hears of the success first records it: the approver's answer
    # or a re-check that ran while that answer was still on its way (a busy machine).
    assert moves[3:] in ([("success", "provider")], [("success", "recheck")])


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


def test_after_a_412_a_refund_is_not_asked_for_again_when_the_one_made_meanwhile_may_be_it(
    reduced_case, pay_online, client, sandbox
):
    """The approver stalls past the lease; the re-checker takes it over and makes the refund;
    the approver's own create then meets the provider's guard (412). Asking again would
    refund the keeper twice: the approver leaves the outcome unknown instead, and the
    re-checker then finds the refund at the provider for a person to match."""
    from penaltypay.payments import refund_provider

    payment = pay_online(reduced_case)
    refund = request_refund(payment.reference, 1000, "other", "", by="fin.a")

    class StalledApprover(type(client)):
        def create_refund(self, payment_id, amount, available):
            if not getattr(self, "stalled", False):
                self.stalled = True
                # Meanwhile the lease ran out and the re-checker made this very refund.
                Refund.objects.filter(pk=refund.pk).update(lease_owner="re-checker")
                made = client.create_refund(payment_id, amount, client.get_payment(payment_id).refund_amount_available)
                self.made_meanwhile = made
            return super().create_refund(payment_id, amount, available)

    stalled = StalledApprover(client.base_url, client._api_key, timeout=3.0)
    Refund.objects.filter(pk=refund.pk).update(status=RefundStatus.SUBMITTING.value, decided_by="fin.b")
    owner = refund_provider.new_lease_owner()
    Refund.objects.filter(pk=refund.pk).update(lease_owner=owner, lease_until=timezone.now() + timedelta(minutes=1))
    refund_provider.submit_refund(Refund.objects.get(pk=refund.pk), stalled, owner)

    assert len(client.list_refunds(payment.provider_payment_id)) == 1  # never a second refund
    Refund.objects.filter(pk=refund.pk).update(lease_owner="", lease_until=timezone.now() - timedelta(seconds=1))
    recheck_payments(client, older_than=timedelta(0))
    waiting = Refund.objects.get(pk=refund.pk)
    assert waiting.status == "unknown" and stalled.made_meanwhile.refund_id in waiting.failure_reason
    assert len(client.list_refunds(payment.provider_payment_id)) == 1
