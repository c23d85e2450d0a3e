"""Helpers for tests that talk to the sandbox payment provider: its test credentials, a
create-payment body, and a real HTTP receiver for its webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "sandbox-api-key"
WEBHOOK_SECRET = "test-webhook-secret"
RETURN_URL = "http://127.0.0.1:8000/pay/return/6f1c"
# Webhook retries in milliseconds instead of minutes, so retry tests stay fast.
FAST_RETRIES = [0.05, 0.05, 0.05]


def payment_request(**overrides) -> dict:
    body = {
        "amount": 4000,
        "reference": "PP-7KQ2-M4XD",
        "description": "Late licensing penalty 12345678 (AB12CDE)",
        "return_url": RETURN_URL,
        "email": "keeper@example.com",
        "metadata": {"case_reference": "12345678"},
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


class WebhookReceiver:
    """A real HTTP endpoint that records what the provider POSTs to it and answers
    with the statuses queued in `answers` (200 once they run out)."""

    def __init__(self):
        self.received: list[dict] = []
        self.answers: deque[int] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    status = receiver.answers.popleft() if receiver.answers else 200
                    receiver.received.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body, "status": status}
                    )
                    receiver._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks/pay"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count and time.monotonic() < deadline:
                self._cond.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self.received)

    def messages(self) -> list[dict]:
        with self._cond:
            return [json.loads(r["body"]) for r in self.received]

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def hold_the_providers_turns(seconds: float) -> None:
    """Other payers (any process) have taken every turn at the provider's rate limit until
    `seconds` from now — measured when this returns, so a slow machine's set-up does not
    eat into the time the test relies on (ADR 0027)."""
    from django.conf import settings

    from penaltypay.adapters.pay_pacing import ProviderPacing
    from penaltypay.web.pacing import take_turn

    pacing = ProviderPacing(settings.PAY_API_KEY, settings.PAY_RATE_LIMIT_PER_SECOND, 0)
    while take_turn(pacing.name, pacing.per_second, seconds + 60) < time.time() + seconds:
        pass
