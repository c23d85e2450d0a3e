"""Counts security events (the `penaltypay.security` log lines) for /metrics."""

from __future__ import annotations

import logging

from penaltypay.kernel.metrics import SECURITY_EVENTS
from penaltypay.kernel.security_events import EVENTS


class SecurityEventCounter(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        name = getattr(record, "security_event", None)
        if name not in EVENTS:
            return
        try:
            SECURITY_EVENTS.labels(event=name).inc()
        except Exception:  # counting must never break the request that logged the event
            self.handleError(record)
