"""Prometheus exposition for /metrics: the counters and histograms every process writes
(prometheus-client, multi-process), plus figures read from the database at scrape time so
that every process reports the same truth (the outbox backlog, payments by state)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Max
from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from penaltypay.ecs.outbox import backlog
from penaltypay.exceptions.queue import KINDS, counts, open_exceptions
from penaltypay.extract.models import ExtractImport
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.figures import payments_by_status
from penaltypay.reconciliation.models import ReconciliationRun
from penaltypay.reconciliation.rules import SETTLED

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
        counts = payments_by_status()
        payments = GaugeMetricFamily("penaltypay_payments", "Payments by status.", labels=["status"])
        for payment_status in PaymentStatus:
            payments.add_metric([payment_status.value], counts.get(payment_status.value, 0))
        yield payments
        yield from _service_figures()


def _service_figures() -> Iterator[Metric]:
    """The figures the alerts in docs/alerts.yml watch that live in the database."""
    opened = GaugeMetricFamily(
        "penaltypay_exceptions_open", "Money exceptions waiting for a person, by kind.", labels=["kind"]
    )
    found = counts(open_exceptions())
    for kind in KINDS:
        count = found.get(kind, 0)
        opened.add_metric([kind], count)
    yield opened
    latest = ReconciliationRun.objects.exclude(status=ReconciliationRun.RUNNING).order_by("-day", "-pk").first()
    differences = GaugeMetricFamily(
        "penaltypay_reconciliation_differences",
        "Items of the latest reconciliation that need action (0 when balanced; -1 when incomplete).",
        labels=["day"],
    )
    if latest is not None:
        value = (
            -1
            if latest.status == ReconciliationRun.INCOMPLETE
            else latest.items.exclude(cls__in=[c.value for c in SETTLED]).count()
        )
        differences.add_metric([latest.day.isoformat()], value)
    yield differences
    applied = ExtractImport.objects.filter(outcome=ExtractImport.APPLIED).aggregate(last=Max("finished_at"))["last"]
    yield GaugeMetricFamily(
        "penaltypay_extract_last_applied_timestamp_seconds",
        "When the last ECS extract was applied (Unix time; 0 if never).",
        value=applied.timestamp() if applied else 0,
    )


def render_metrics() -> bytes:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(DatabaseFigures())
    return generate_latest(registry)
