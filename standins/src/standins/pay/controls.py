"""Controls for tests and operators: drive a payment to an outcome, read state, the control API."""

from __future__ import annotations

import logging
import re
import time
from datetime import date, timedelta

from standins.pay.cards import card_from_number
from standins.pay.model import ApiError, PaymentFinished
from standins.pay.representation import payment_json

log = logging.getLogger("standins.pay")


class Controls:
    """Mixed into SandboxProvider."""

    def complete(
        self,
        payment_id: str,
        card_number: str,
        *,
        cardholder_name: str = "Sandbox Tester",
        three_d_secure: str = "complete",
    ) -> dict:
        """Drive a payment to the outcome of a test card, as if the payer used the card page
        (and, for a card that asks for it, answered the 3-D Secure challenge: `complete` or `fail`)."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(payment_id)
            card = card_from_number(card_number, cardholder_name, self._now().date())
            self._expire_if_due(payment)
            if payment.finished:
                raise PaymentFinished("payment has already finished")
            if not self._authorise(payment, card):
                self._authorise(payment, card, challenge_passed=three_d_secure == "complete")
            return payment_json(payment, None, today=self._today())

    def cancel_by_payer(self, payment_id: str) -> dict:
        """As if the payer pressed "Cancel payment" on the card page."""
        return self._fail_unfinished(payment_id, "P0030")

    def expire(self, payment_id: str) -> dict:
        """Expire an unfinished payment now (failed, P0020), as its time limit would."""
        return self._fail_unfinished(payment_id, "P0020")

    def _fail_unfinished(self, payment_id: str, code: str) -> dict:
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(payment_id)
            self._expire_if_due(payment)  # a payment past its limit has expired already
            if payment.finished:
                raise PaymentFinished("payment has already finished")
            self._finish(payment, "failed", code)
            return payment_json(payment, None, today=self._today())

    def _payouts_answer(self, data: dict) -> dict:
        """The day's payouts, and the bank statement they make (for finance's rehearsal and tests)."""
        try:
            start = date.fromisoformat(str(data.get("from") or self._today().isoformat()))
            end = date.fromisoformat(str(data["to"])) if data.get("to") else start + timedelta(days=1)
        except ValueError:
            raise ApiError(400, None, "from and to must be dates (YYYY-MM-DD)") from None
        return {"payouts": self.payouts(start, end), "statement_csv": self.bank_statement_csv(start, end)}

    def payment(self, payment_id: str) -> dict:
        """Read a payment without issuing a new card-page link (for assertions)."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(payment_id)
            self._expire_if_due(payment)
            return payment_json(payment, None, today=self._today())

    def webhook_deliveries(self) -> list[dict]:
        with self._lock:
            return [dict(d) for d in self._deliveries]

    def wait_for_deliveries(self, count_: int, *, timeout: float = 5.0, outcome: str | None = None) -> list[dict]:
        """Wait until at least `count_` delivery attempts (optionally with `outcome`) are logged."""
        deadline = time.monotonic() + timeout
        while True:
            found = [d for d in self.webhook_deliveries() if outcome is None or d["outcome"] == outcome]
            if len(found) >= count_ or time.monotonic() >= deadline:
                return found
            time.sleep(0.01)

    def flush_webhooks(self) -> None:
        """Release held (reordered) messages and make every waiting retry due now."""
        with self._lock:
            self._release_held()
        self._dispatcher.make_all_due()

    def control(self, method: str, path: str, data) -> tuple[int, dict | None]:
        if path == "/_sandbox/health" and method == "GET":
            return 200, {"status": "ok"}
        if path == "/_sandbox/config":
            if method == "GET":
                return 200, self.settings()
            if method == "POST":
                if not isinstance(data, dict):
                    raise ApiError(400, None, "body must be a JSON object")
                try:
                    return 200, self.configure(**data)
                except ValueError as exc:
                    raise ApiError(400, None, str(exc)) from None
        if path == "/_sandbox/reset" and method == "POST":
            self.reset()
            return 200, {"status": "reset"}
        if path == "/_sandbox/webhooks" and method == "GET":
            with self._lock:
                held = len(self._held)
            return 200, {"deliveries": self.webhook_deliveries(), "pending": self._dispatcher.pending(), "held": held}
        if path == "/_sandbox/webhooks/flush" and method == "POST":
            self.flush_webhooks()
            return 200, {"status": "flushed"}
        if path == "/_sandbox/payouts" and method == "GET":
            return 200, self._payouts_answer(data if isinstance(data, dict) else {})
        match = re.fullmatch(r"/_sandbox/payments/([^/]+)/(complete|expire)", path)
        if match and method == "POST":
            payment_id, action = match.groups()
            data = data if isinstance(data, dict) else {}
            try:
                if action == "expire":
                    return 200, self.expire(payment_id)
                if data.get("cancel") is True:
                    return 200, self.cancel_by_payer(payment_id)
                if not isinstance(data.get("card_number"), str):
                    raise ApiError(400, None, 'card_number is required (or "cancel": true)')
                name = data.get("cardholder_name") or "Sandbox Tester"
                return 200, self.complete(payment_id, data["card_number"], cardholder_name=str(name)[:200])
            except KeyError:
                raise ApiError(404, "P0200", "Not found") from None
            except PaymentFinished as exc:
                raise ApiError(409, None, str(exc)) from None
            except ValueError as exc:
                raise ApiError(400, None, str(exc)) from None
        raise ApiError(404, None, "Not found")
