"""Prometheus exposition for /metrics: the counters and histograms every process writes
(prometheus-client, multi-process), plus figures read from the database at scrape time so
that every process reports the same truth (the outbox backlog, payments by state)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from penaltypay.ecs.outbox import backlog
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment

BREAKER_STATES = ("closed", "open", "half_open")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DatabaseFigures:
    """Read at every scrape (a prometheus-client custom collector)."""

    def collect(self) -> Iterator[Metric]:
        status = backlog()
        for name, text, value in (
            (
                "penaltypay_ecs_outbox_waiting",
                "Money events not yet in the ECS ledger (excluding exceptions).",
                status.waiting,
            ),
            (
                "penaltypay_ecs_outbox_oldest_waiting_seconds",
                "Age of the oldest waiting event.",
                round(status.oldest_waiting_seconds, 3),
            ),
            ("penaltypay_ecs_outbox_exceptions", "Events stopped for a person to act on.", status.exceptions),
            (
                "penaltypay_ecs_outbox_blocked_by_exception",
                "Waiting events held behind an exception on their case.",
                status.blocked_by_exception,
            ),
        ):
            yield GaugeMetricFamily(name, text, value=value)
        sent = GaugeMetricFamily(
            "penaltypay_ecs_outbox_sent", "Events delivered to the ECS ledger (all time).", value=status.sent_total
        )
        yield sent
        breaker = GaugeMetricFamily(
            "penaltypay_ecs_breaker_state", "1 for the ECS circuit breaker's current state.", labels=["state"]
        )
        for state in BREAKER_STATES:
            breaker.add_metric([state], int(state == status.breaker_state))
        yield breaker
        counts = dict(Payment.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        payments = GaugeMetricFamily("penaltypay_payments", "Payments by status.", labels=["status"])
        for payment_status in PaymentStatus:
            payments.add_metric([payment_status.value], counts.get(payment_status.value, 0))
        yield payments


def render_metrics() -> bytes:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseFigures())
    return generate_latest(registry)
