"""Chaos with disputes: the sandbox's dispute webhooks reach the running service duplicated,
out of order and some not at all, while ECS times out after committing, resets connections
and answers 500 as the reversals are delivered. Every lost dispute must end as exactly one
ECS refund named by its dispute id; a won one as none."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from penaltypay.adapters.factories import payment_provider
from penaltypay.ecs.models import OutboxEvent
from penaltypay.payments.disputes import sync_disputes
from penaltypay.payments.models import Dispute, DisputeEvent
from tests.payments.test_refunds import deliver
from tests.providers import WEBHOOK_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LOST_CARD = "4000000000000259"
WON_CARD = "4000000000002685"
CLIENT_TIMEOUT = 1.0


def ecs_faults() -> dict:
    return {
        "latency_ms": [0, 20],
        "timeout_after_commit": 0.25,
        "hang_seconds": CLIENT_TIMEOUT + 0.5,
        "reset_before_commit": 0.1,
        "reset_after_commit": 0.15,
        "http_500_without_fault": 0.1,
        "seed": 20261202,
    }


def test_every_lost_dispute_reaches_ecs_once_whatever_the_webhooks_and_ecs_do(
    put_case, pay_online, provider, ecs, clock, live_server, settings
):
    settings.ECS_LOOKUP_TIMEOUT = CLIENT_TIMEOUT
    cases = [put_case(reference=f"7100{n:04d}", vrm=f"DC{n:02d}ABC") for n in range(8)]
    # No dispute opens until the webhooks below are in place (however slowly the payments go).
    provider.configure(dispute_open_seconds=3600, dispute_decide_seconds=0.6, sweep_interval=0.05)
    paid = {case.reference: pay_online(case, card=LOST_CARD if n % 4 else WON_CARD) for n, case in enumerate(cases)}
    lost_cases = {case.reference for n, case in enumerate(cases) if n % 4}
    deliver(ecs, clock)  # the payments reach ECS first

    # From here the sandbox tells the running service by webhook: twice each, the next
    # dozen held back and sent in reverse, and three never sent at all.
    provider.configure(
        webhook_url=f"{live_server.url}/webhooks/pay",
        webhook_secret=WEBHOOK_SECRET,
        webhook_retry_schedule=[0.2, 0.5],
        webhook_duplicate=True,
        webhook_reorder=12,
        webhook_drop=3,
        dispute_open_seconds=0.2,
    )
    deadline = time.monotonic() + 30
    while Dispute.objects.filter(status__in=["won", "lost"]).count() < len(cases):
        if time.monotonic() > deadline:
            break  # the dropped ones: the search below finds them
        provider.flush_webhooks()
        time.sleep(0.2)
    deliveries = provider.webhook_deliveries()
    assert sum(d["outcome"] == "dropped" for d in deliveries) == 3
    outcomes = Counter((d["event_type"], d["outcome"], d["status"]) for d in deliveries)
    assert DisputeEvent.objects.filter(source="webhook").exists(), outcomes  # the hints arrived, and were acted on
    sync_disputes(payment_provider())  # the worker's own search: the truth behind lost messages

    ecs.set_faults(**ecs_faults())
    deliver(ecs, clock, rounds=12)
    ecs.set_faults()
    deliver(ecs, clock, rounds=6)

    disputes = {d.payment.first_case_reference: d for d in Dispute.objects.select_related("payment")}
    assert set(disputes) == set(paid)
    for reference, dispute in disputes.items():
        entries = ecs.ledger(reference) or []
        reversals = Counter(e.refund_reference for e in entries if e.kind == "REFUND")
        if reference in lost_cases:
            assert dispute.status == "lost"
            assert reversals == {dispute.provider_dispute_id: 1}, (reference, reversals)
            amount = next(e.amount_pence for e in entries if e.refund_reference == dispute.provider_dispute_id)
            assert amount == paid[reference].amount_pence
        else:
            assert dispute.status == "won" and not reversals
        assert [e.kind for e in entries].count("PAYMENT") == 1
    assert OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND).count() == len(lost_cases)
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.SENT).exists()
