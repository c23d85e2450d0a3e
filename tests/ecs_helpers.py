"""Getting money to ECS in a test, as the worker would, and reconciling a day against it
(shared by the reconciliation, exceptions, operations and back-office tests)."""

from __future__ import annotations

import threading

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.factories import payment_provider
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.payments.ecs_sync import record_delivered
from penaltypay.reconciliation.run import reconcile_day


def deliver(ecs, clock, rounds: int = 3):
    """Run an outbox worker against the ECS simulator until idle, `rounds` times, moving the
    test clock on 10 minutes between rounds (so back-offs and settle times pass)."""
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
        clock.advance(600)


def reconcile(day, ecs, **kwargs):
    return reconcile_day(
        day,
        provider=payment_provider(),
        ecs_factory=lambda: EcsClient(ecs.url, timeout=1.0),
        trigger="command",
        **kwargs,
    )
