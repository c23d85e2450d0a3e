"""Prometheus text exposition, computed from the database at scrape time so that
every process (web, several workers) reports the same truth."""

from __future__ import annotations

from django.db.models import Count

from penaltypay.ecs.outbox import backlog
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment

BREAKER_STATES = ("closed", "open", "half_open")


def _line(name: str, value, labels: dict | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def render_metrics() -> str:
    status = backlog()
    out = [
        "# HELP penaltypay_ecs_outbox_waiting Money events not yet in the ECS ledger (excluding exceptions).",
        "# TYPE penaltypay_ecs_outbox_waiting gauge",
        _line("penaltypay_ecs_outbox_waiting", status.waiting),
        "# HELP penaltypay_ecs_outbox_oldest_waiting_seconds Age of the oldest waiting event.",
        "# TYPE penaltypay_ecs_outbox_oldest_waiting_seconds gauge",
        _line("penaltypay_ecs_outbox_oldest_waiting_seconds", round(status.oldest_waiting_seconds, 3)),
        "# HELP penaltypay_ecs_outbox_exceptions Events stopped for a person to act on.",
        "# TYPE penaltypay_ecs_outbox_exceptions gauge",
        _line("penaltypay_ecs_outbox_exceptions", status.exceptions),
        "# HELP penaltypay_ecs_outbox_blocked_by_exception Waiting events held behind an exception on their case.",
        "# TYPE penaltypay_ecs_outbox_blocked_by_exception gauge",
        _line("penaltypay_ecs_outbox_blocked_by_exception", status.blocked_by_exception),
        "# HELP penaltypay_ecs_outbox_sent_total Events delivered to the ECS ledger.",
        "# TYPE penaltypay_ecs_outbox_sent_total counter",
        _line("penaltypay_ecs_outbox_sent_total", status.sent_total),
        "# HELP penaltypay_ecs_breaker_state 1 for the ECS circuit breaker's current state.",
        "# TYPE penaltypay_ecs_breaker_state gauge",
    ]
    out += [
        _line("penaltypay_ecs_breaker_state", int(state == status.breaker_state), {"state": state})
        for state in BREAKER_STATES
    ]
    counts = dict(Payment.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    out += [
        "# HELP penaltypay_payments Payments by status.",
        "# TYPE penaltypay_payments gauge",
    ]
    out += [_line("penaltypay_payments", counts.get(s.value, 0), {"status": s.value}) for s in PaymentStatus]
    return "\n".join(out) + "\n"
