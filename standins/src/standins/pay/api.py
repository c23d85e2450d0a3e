"""The provider's API operations; each returns (status, body or None, extra headers)."""

from __future__ import annotations

import logging
import time
from collections import deque
from datetime import timedelta

from standins.pay import search
from standins.pay.model import (
    PAYMENT_STATUSES,
    ApiError,
    Payment,
    Refund,
    iso_time,
    new_id,
)
from standins.pay.representation import payment_json, refund_json, refund_summary
from standins.pay.validation import validate_create

log = logging.getLogger("standins.pay")


class PaymentApi:
    """Mixed into SandboxProvider: it holds the state these operate on."""

    def _rate_limited(self, api_key: str) -> bool:
        limit = self._config["rate_limit_per_second"]
        if not limit:
            return False
        now = time.monotonic()
        window = self._posts.setdefault(api_key, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    def api_create(self, data, base: str):
        with self._lock:
            fields = validate_create(data, self._config["http_return_url_hosts"])
            if self._take("fail_next_creates_before_commit"):
                raise ApiError(500, "P0999", "Payment provider unavailable")
            payment = Payment(payment_id=new_id(), seq=self._next_seq, created_at=self._now(), **fields)
            self._next_seq += 1
            self._payments[payment.payment_id] = payment
            self._record_event(payment)
            body = payment_json(
                payment, base, next_token=self._issue_token(payment), card_base=self.card_base_url, today=self._today()
            )
            fail_after = self._take("fail_next_creates_after_commit")
            delay = self._config["create_delay"]
        # The payment exists from here on, whatever the caller hears.
        if delay:
            time.sleep(delay)
        if fail_after:
            raise ApiError(500, "P0198", "Downstream system error")
        return 201, body, {"Location": body["_links"]["self"]["href"]}

    def api_get(self, payment_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id)
            token = None if payment.finished else self._issue_token(payment)
            return (
                200,
                payment_json(payment, base, next_token=token, card_base=self.card_base_url, today=self._today()),
                {},
            )

    def api_events(self, payment_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id)
            href = f"{base}/v1/payments/{payment.payment_id}"
            events = [
                {
                    "payment_id": payment.payment_id,
                    "state": state,
                    "updated": iso_time(at),
                    "_links": {"payment_url": {"href": href, "method": "GET"}},
                }
                for state, at in payment.events
            ]
            body = {
                "payment_id": payment.payment_id,
                "events": events,
                "_links": {"self": {"href": f"{href}/events", "method": "GET"}},
            }
            return 200, body, {}

    def api_capture(self, payment_id: str):
        """The sandbox takes payments at once (no delayed capture), so none awaits capture."""
        with self._lock:
            self._get(payment_id)
            raise ApiError(400, "P1003", "Capture of payment failed: the payment is not awaiting capture")

    def api_cancel(self, payment_id: str):
        with self._lock:
            payment = self._get(payment_id)
            if payment.finished:
                raise ApiError(400, "P0501", "Cancellation of payment failed: the payment has finished")
            self._finish(payment, "cancelled", "P0040")
            return 204, None, {}

    def api_search(self, query: str, base: str):
        q = search.parse(query)
        state = q.text("state")
        if state is not None and state not in PAYMENT_STATUSES:
            raise search.invalid("state", "Unknown payment state")
        from_date, to_date = q.moment("from_date"), q.moment("to_date")
        from_settled, to_settled = q.day("from_settled_date"), q.day("to_settled_date")
        # The sandbox holds no agreements: that filter matches no payment.
        matches_nothing = bool(q.text("agreement_id"))
        wanted = {
            "reference": q.text("reference"),
            "email": q.text("email"),
            "card_brand": q.text("card_brand"),
            "cardholder_name": q.text("cardholder_name"),
            "last_digits_card_number": q.text("last_digits_card_number"),
            "first_digits_card_number": q.text("first_digits_card_number"),
        }
        with self._lock:
            visible_before = self._now() - timedelta(seconds=self._config["search_delay"])
            matches = []
            for payment in sorted(self._payments.values(), key=lambda p: p.seq, reverse=True):
                self._expire_if_due(payment)
                if matches_nothing or payment.created_at > visible_before:
                    continue  # the search index lags behind, as the real one does
                card = payment.card_details or {}
                found = {
                    "reference": payment.reference,
                    "email": payment.email,
                    "card_brand": card.get("card_brand"),
                    "cardholder_name": card.get("cardholder_name"),
                    "last_digits_card_number": card.get("last_digits_card_number"),
                    "first_digits_card_number": card.get("first_digits_card_number"),
                }
                if any(
                    value is not None and (found[name] or "").casefold() != value.casefold()
                    for name, value in wanted.items()
                ):
                    continue
                if state is not None and payment.status != state:
                    continue
                if from_date is not None and payment.created_at < from_date:
                    continue
                if to_date is not None and payment.created_at >= to_date:
                    continue
                if not search.settled_between(payment.settled_on, from_settled, to_settled, self._today()):
                    continue
                matches.append(payment)
            return (
                200,
                search.page_of(q, matches, lambda p: payment_json(p, base, today=self._today()), base, "/v1/payments"),
                {},
            )

    def api_search_refunds(self, query: str, base: str):
        q = search.parse(query)
        from_date, to_date = q.moment("from_date"), q.moment("to_date")
        from_settled, to_settled = q.day("from_settled_date"), q.day("to_settled_date")
        with self._lock:
            today = self._today()
            matches = sorted(
                (
                    (payment, refund)
                    for payment in self._payments.values()
                    for refund in payment.refunds
                    if (from_date is None or refund.created_at >= from_date)
                    and (to_date is None or refund.created_at < to_date)
                    and search.settled_between(
                        refund.settled_on if refund.status == "success" else None, from_settled, to_settled, today
                    )
                ),
                key=lambda pair: pair[1].created_at,
                reverse=True,
            )
            body = search.page_of(
                q, matches, lambda pair: refund_json(pair[0], pair[1], base, self._today()), base, "/v1/refunds"
            )
            return 200, body, {}

    def api_create_refund(self, payment_id: str, data, base: str):
        with self._lock:
            payment = self._get(payment_id, "P0600")
            if not isinstance(data, dict):
                raise ApiError(400, "P0602", "Unable to parse JSON: the body must be a JSON object")
            for name in ("amount", "refund_amount_available"):
                value = data.get(name)
                if value is None:
                    if name == "refund_amount_available":
                        continue  # optional in the published API: then there is no stale-read guard
                    raise ApiError(400, "P0601", f"Missing mandatory attribute: {name}", name)
                if isinstance(value, bool) or not isinstance(value, int) or (name == "amount" and value < 1):
                    raise ApiError(
                        400, "P0602", f"Invalid attribute value: {name}. Must be a whole number of pence", name
                    )
            amount, expected = data["amount"], data.get("refund_amount_available")
            summary = refund_summary(payment)
            # "Not available" is a failed precondition (412), like a stale amount: the published
            # API documents no 400 for a well-formed refund request (docs/adr/0009).
            if payment.status != "success" or summary["status"] == "unavailable":
                raise ApiError(412, "P0603", "The payment is not available for refund")
            if expected is not None and expected != summary["amount_available"]:
                # Two refunds prepared from the same read: only the first one goes through,
                # even when the first took everything.
                raise ApiError(412, "P0604", "Refund amount available mismatch")
            if summary["amount_available"] <= 0:
                raise ApiError(412, "P0603", "The payment has been refunded in full")
            if amount > summary["amount_available"]:
                raise ApiError(412, "P0603", "The refund amount is more than the amount available for refund")
            refund = Refund(new_id(), amount, "submitted", self._now())
            payment.refunds.append(refund)
            self._dirty = True
            body = refund_json(payment, refund, base, self._today())
            # The sandbox settles a refund at once; the answer still says "submitted", as the real one does.
            if self._take("fail_next_refunds"):
                refund.status = "error"
            else:
                refund.status = "success"
                self._settle_refund(refund)
                self._emit_webhook(payment, "card_payment_refunded")
            delay = self._config["refund_delay"]
        # The refund exists from here on, however slowly the caller hears of it.
        if delay:
            time.sleep(delay)
        return 202, body, {}

    def api_list_refunds(self, payment_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id, "P0600")
            href = f"{base}/v1/payments/{payment.payment_id}"
            body = {
                "payment_id": payment.payment_id,
                "_links": {
                    "self": {"href": f"{href}/refunds", "method": "GET"},
                    "payment": {"href": href, "method": "GET"},
                },
                "_embedded": {"refunds": [refund_json(payment, r, base, self._today()) for r in payment.refunds]},
            }
            return 200, body, {}

    def api_get_refund(self, payment_id: str, refund_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id, "P0600")
            for refund in payment.refunds:
                if refund.refund_id == refund_id:
                    return 200, refund_json(payment, refund, base, self._today()), {}
            raise ApiError(404, "P0700", "Refund not found")
