"""Disputes (chargebacks) followed from the provider's search, with webhooks as hints: a lost
dispute reaches ECS once, as a refund whose reference is the dispute id; a won one changes
nothing in ECS; the money held against the case and what may still be refunded follow."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from penaltypay.adapters.factories import payment_provider
from penaltypay.audit.models import AuditEntry
from penaltypay.ecs.models import OutboxEvent
from penaltypay.payments.disputes import note_evidence_sent, sync_disputes
from penaltypay.payments.models import Dispute
from penaltypay.payments.queries import held_against
from penaltypay.payments.refund_rules import RefundRuleBroken
from penaltypay.payments.refunds import remaining_refundable, request_refund
from penaltypay.payments.webhooks import handle_webhook
from standins.pay.model import sign_webhook
from tests.payments.test_refunds import deliver, ledger
from tests.providers import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db(transaction=True)

LOST_CARD = "4000000000000259"
WON_CARD = "4000000000002685"


@pytest.fixture
def client(provider):
    provider.configure(dispute_open_seconds=0, dispute_decide_seconds=0)
    return payment_provider()


def test_a_lost_dispute_reaches_ecs_once_as_a_refund_named_by_the_dispute(
    reduced_case, pay_online, client, provider, ecs, clock
):
    payment = pay_online(reduced_case, card=LOST_CARD)
    deliver(ecs, clock)
    assert held_against(reduced_case.reference).pending_pence == 0  # ECS holds the payment

    report = sync_disputes(client)

    assert (report.seen, report.new, report.lost) == (1, 1, 1)
    dispute = Dispute.objects.get()
    assert (dispute.payment_id, dispute.status, dispute.amount_pence, dispute.ecs_note) == (
        payment.pk,
        "lost",
        4000,
        "queued",
    )
    assert dispute.net_pence == -(4000 + 2000) and dispute.settled_date is not None
    # ECS does not know yet: what is held against the case already counts the money gone.
    assert held_against(reduced_case.reference).pending_pence == -4000
    assert remaining_refundable(payment) == 0
    assert sync_disputes(client).lost == 0  # a second search changes nothing

    deliver(ecs, clock)

    assert ledger(ecs, reduced_case) == [
        ("PAYMENT", payment.reference, 4000),
        ("REFUND", dispute.provider_dispute_id, 4000),
    ]
    dispute.refresh_from_db()
    assert dispute.ecs_recorded_at is not None
    assert held_against(reduced_case.reference).pending_pence == 0
    assert [(e.from_status, e.to_status) for e in dispute.events.all()] == [("", "lost")]
    assert AuditEntry.objects.filter(action="dispute_lost", object_id=payment.reference).count() == 1


def test_a_won_dispute_changes_nothing_in_ecs(reduced_case, pay_online, client, provider, ecs, clock):
    provider.configure(dispute_decide_seconds=3600)
    payment = pay_online(reduced_case, card=WON_CARD)
    sync_disputes(client)
    dispute = Dispute.objects.get()
    assert dispute.status == "needs_response" and dispute.is_open
    assert dispute.evidence_due_at is not None
    with pytest.raises(RefundRuleBroken, match="disputing"):
        request_refund(payment.reference, 100, "overpaid", "", by="fin.a")
    note_evidence_sent(dispute.provider_dispute_id, by="fin.a", note="receipt and look-up log sent")

    provider.configure(dispute_decide_seconds=0)
    sync_disputes(client)
    deliver(ecs, clock)

    dispute.refresh_from_db()
    assert dispute.status == "won" and dispute.decided_at is not None and dispute.net_pence is None
    assert not OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND).exists()
    assert ledger(ecs, reduced_case) == [("PAYMENT", payment.reference, 4000)]
    assert [(e.to_status, e.source) for e in dispute.events.all()] == [
        ("needs_response", "search"),
        ("needs_response", "person"),
        ("won", "search"),
    ]
    assert remaining_refundable(payment) == 4000


def test_many_searches_at_once_queue_one_reversal(reduced_case, pay_online, client):
    pay_online(reduced_case, card=LOST_CARD)
    errors = []

    def search():
        try:
            sync_disputes(payment_provider())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Dispute.objects.count() == 1
    assert OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND).count() == 1


def _signed(message: dict) -> tuple[bytes, str]:
    body = json.dumps(message).encode()
    return body, sign_webhook(body, WEBHOOK_SECRET)


def test_a_dispute_webhook_is_a_hint_to_search_never_believed(reduced_case, pay_online, client):
    payment = pay_online(reduced_case, card=LOST_CARD)
    remote = client.search_disputes(payment.created_at - timedelta(days=1), payment.created_at + timedelta(days=1))[0]
    # The message claims "won"; the search says lost, and lost is what is kept.
    message = {
        "webhook_message_id": "m1",
        "created_date": "2027-01-01T00:00:00.000Z",
        "resource_id": remote.dispute_id,
        "api_version": 1,
        "resource_type": "dispute",
        "event_type": "card_payment_dispute_won",
        "resource": {
            "dispute_id": remote.dispute_id,
            "payment_id": remote.payment_id,
            "status": "won",
            "created_date": remote.created_date.isoformat(),
        },
    }
    result = handle_webhook(*_signed(message), client)
    assert result.status == 200, result.detail
    assert Dispute.objects.get().status == "lost"
    # The same message again, and one whose time is nonsense: nothing more happens.
    assert handle_webhook(*_signed(message), client).status == 200
    message["resource"]["created_date"] = "not a time"
    message["webhook_message_id"] = "m2"
    assert handle_webhook(*_signed(message), client).status == 200
    assert OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND).count() == 1


def test_the_worker_searches_every_interval_and_again_at_once_after_a_failure(
    reduced_case, pay_online, client, provider, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from penaltypay.operations.jobs import run_job

    settings.DISPUTE_SYNC_SECONDS = 300
    pay_online(reduced_case, card=LOST_CARD)
    now = timezone.now()
    assert run_job("dispute-sync", now).lost == 1
    assert run_job("dispute-sync", now + timedelta(seconds=299)) is None  # not due yet
    settings.PAY_API_URL = "http://127.0.0.1:9"  # the provider cannot be reached
    with pytest.raises(Exception):  # noqa: B017 - any provider error; the pass logs it
        run_job("dispute-sync", now + timedelta(seconds=301))
    settings.PAY_API_URL = provider.base_url
    assert run_job("dispute-sync", now + timedelta(seconds=302)) is not None  # not waiting another interval


def test_a_dispute_on_a_payment_we_never_saw_succeed_tells_ecs_of_the_payment_first(
    reduced_case, client, provider, ecs, clock
):
    from django.test import Client

    from penaltypay.payments.models import Payment
    from tests.citizen.conftest import find

    keeper = Client()
    find(keeper, reduced_case.reference, reduced_case.vrm)
    keeper.post("/pay", {"email": "keeper@example.com"})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, LOST_CARD)  # the keeper never comes back

    sync_disputes(client)
    deliver(ecs, clock)

    payment.refresh_from_db()
    assert payment.status == "success"
    dispute = Dispute.objects.get()
    assert ledger(ecs, reduced_case) == [
        ("PAYMENT", payment.reference, 4000),
        ("REFUND", dispute.provider_dispute_id, 4000),
    ]
