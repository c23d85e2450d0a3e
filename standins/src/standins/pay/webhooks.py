"""Signed webhooks: what the sandbox sends, and the thread that delivers them (with faults)."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from heapq import heappop, heappush
from itertools import count
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from standins.pay.model import Payment, iso_time, new_id, sign_webhook
from standins.pay.representation import payment_json

if TYPE_CHECKING:
    from standins.pay.provider import SandboxProvider

log = logging.getLogger("standins.pay")


@dataclass(order=True)
class Delivery:
    due: float
    seq: int
    message_id: str = field(compare=False)
    event_type: str = field(compare=False)
    resource_id: str = field(compare=False)
    body: bytes = field(compare=False, repr=False)
    signature: str = field(compare=False, repr=False)
    url: str = field(compare=False)
    generation: int = field(compare=False)
    attempt: int = field(default=1, compare=False)


class WebhookDispatcher:
    """One background thread that POSTs due deliveries in order. It never takes
    the sandbox's lock while holding its own (the sandbox calls in the other way)."""

    def __init__(self, sandbox: SandboxProvider):
        self._sandbox = sandbox
        self._cond = threading.Condition()
        self._queue: list[Delivery] = []
        self._seq = count()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-pay-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def push(self, delivery: Delivery, due: float) -> None:
        with self._cond:
            delivery.due = due
            delivery.seq = next(self._seq)
            heappush(self._queue, delivery)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()

    def make_all_due(self) -> None:
        now = time.monotonic()
        with self._cond:
            for delivery in self._queue:
                delivery.due = min(delivery.due, now)
            self._queue.sort()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0].due > time.monotonic()):
                    wait = self._queue[0].due - time.monotonic() if self._queue else None
                    self._cond.wait(timeout=wait)
                if self._stopping:
                    return
                delivery = heappop(self._queue)
            status, error = self._post(delivery)
            try:
                self._sandbox._after_delivery_attempt(delivery, status, error)
            except Exception:  # never let one bad delivery stop the thread
                log.exception("webhook bookkeeping failed")

    def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        parts = urlsplit(delivery.url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        timeout = self._sandbox._setting("webhook_timeout")
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(
                "POST",
                path,
                body=delivery.body,
                headers={
                    "Content-Type": "application/json",
                    "Pay-Signature": delivery.signature,
                    "User-Agent": "penaltypay-sandbox-webhooks/1",
                },
            )
            response = connection.getresponse()
            response.read()
            return response.status, None
        except (OSError, http.client.HTTPException) as exc:
            return None, type(exc).__name__
        finally:
            connection.close()


class WebhookEmitter:
    """Mixed into SandboxProvider."""

    def _emit_webhook(self, payment: Payment, event_type: str) -> None:
        self._emit_message(payment.payment_id, "payment", event_type, payment_json(payment, None, today=self._today()))

    def _emit_message(self, resource_id: str, resource_type: str, event_type: str, resource: dict) -> None:
        url = self._config["webhook_url"]
        if not url:
            return
        message = {
            "webhook_message_id": new_id(),
            "created_date": iso_time(self._now()),
            "resource_id": resource_id,
            "api_version": 1,
            "resource_type": resource_type,
            "event_type": event_type,
            "resource": resource,
        }
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        delivery = Delivery(
            due=0.0,
            seq=0,
            message_id=message["webhook_message_id"],
            event_type=event_type,
            resource_id=resource_id,
            body=body,
            signature=sign_webhook(body, self._config["webhook_secret"]),
            url=url,
            generation=self._generation,
        )
        if self._take("webhook_drop"):
            self._log_delivery(delivery, status=None, outcome="dropped", error=None)
            return
        copies = [delivery]
        if self._take("webhook_duplicate"):
            copies.append(replace(delivery))
        if self._reorder_left:
            self._held.extend(copies)
            if self._reorder_left > 0:
                self._reorder_left -= 1
                if self._reorder_left == 0:
                    self._config["webhook_reorder"] = False
                    self._release_held()
            return
        self._schedule(copies)

    def _schedule(self, deliveries: list[Delivery]) -> None:
        due = time.monotonic() + self._config["webhook_delay"]
        for delivery in deliveries:
            self._dispatcher.push(delivery, due)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        self._schedule(list(reversed(held)))

    def _log_delivery(self, delivery: Delivery, *, status, outcome: str, error) -> None:
        self._deliveries.append(
            {
                "webhook_message_id": delivery.message_id,
                "event_type": delivery.event_type,
                "resource_id": delivery.resource_id,
                "url": delivery.url,
                "attempt": delivery.attempt,
                "status": status,
                "outcome": outcome,
                "error": error,
                "at": iso_time(self._now()),
                "message": json.loads(delivery.body),
            }
        )

    def _after_delivery_attempt(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        with self._lock:
            if delivery.generation != self._generation:
                return  # sent before a reset: forget it
            ok = status is not None and 200 <= status < 300
            self._log_delivery(delivery, status=status, outcome="delivered" if ok else "failed", error=error)
            schedule = self._config["webhook_retry_schedule"]
            if not ok and delivery.attempt <= len(schedule):
                wait = schedule[delivery.attempt - 1]
                delivery.attempt += 1
                self._dispatcher.push(delivery, time.monotonic() + wait)

    def _sweep_forever(self) -> None:
        # Payments nobody reads still expire, and disputes open and close, on time (with webhooks).
        while not self._stop.is_set():
            self._wake_sweeper.wait(self._setting("sweep_interval"))
            self._wake_sweeper.clear()
            try:
                with self._lock:
                    for payment in list(self._payments.values()):
                        self._expire_if_due(payment)
                        self._advance_disputes(payment)
            except Exception:
                log.exception("expiry sweep failed")
