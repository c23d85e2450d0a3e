"""The provider's API operations; each returns (status, body or None, extra headers)."""

from __future__ import annotations

import logging
import math
import re
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode

from standins.pay.model import (
    MAX_DISPLAY_SIZE,
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
            body = payment_json(payment, base, next_token=self._issue_token(payment))
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
            return 200, payment_json(payment, base, next_token=token), {}

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

    def api_cancel(self, payment_id: str):
        with self._lock:
            payment = self._get(payment_id)
            if payment.finished:
                raise ApiError(400, "P0501", "Cancellation of payment failed: the payment has finished")
            self._finish(payment, "cancelled", "P0040")
            return 204, None, {}

    def api_search(self, query: str, base: str):
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}

        def bad(name: str, what: str) -> ApiError:
            return ApiError(422, "P0401", f"Invalid parameters: {name}. {what}", name)

        def whole(name: str, default: int, low: int, high: int) -> int:
            text = params.get(name)
            if text in (None, ""):
                return default
            if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
                raise bad(name, f"Must be a whole number from {low} to {high}")
            return int(text)

        def moment(name: str) -> datetime | None:
            text = params.get(name)
            if not text:
                return None
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
            except ValueError:
                raise bad(name, "Must be an ISO 8601 date and time") from None
            return value if value.tzinfo else value.replace(tzinfo=UTC)

        reference = params.get("reference") or None
        state = params.get("state") or None
        if state is not None and state not in PAYMENT_STATUSES:
            raise bad("state", "Unknown payment state")
        from_date, to_date = moment("from_date"), moment("to_date")
        page = whole("page", 1, 1, 10**9)
        size = whole("display_size", MAX_DISPLAY_SIZE, 1, MAX_DISPLAY_SIZE)
        with self._lock:
            visible_before = self._now() - timedelta(seconds=self._config["search_delay"])
            matches = []
            for payment in sorted(self._payments.values(), key=lambda p: p.seq, reverse=True):
                self._expire_if_due(payment)
                if payment.created_at > visible_before:
                    continue  # the search index lags behind, as the real one does
                if reference is not None and payment.reference.casefold() != reference.casefold():
                    continue
                if state is not None and payment.status != state:
                    continue
                if from_date is not None and payment.created_at < from_date:
                    continue
                if to_date is not None and payment.created_at >= to_date:
                    continue
                matches.append(payment)
            pages_total = max(1, math.ceil(len(matches) / size))
            if page > pages_total:
                raise ApiError(404, "P0402", "Page not found")
            chosen = matches[(page - 1) * size : page * size]
            results = [payment_json(p, base) for p in chosen]

        def page_link(number: int) -> dict:
            wanted = {k: v for k, v in params.items() if k != "page"}
            wanted["page"] = str(number)
            return {"href": f"{base}/v1/payments?{urlencode(wanted)}"}

        links = {
            "self": page_link(page),
            "first_page": page_link(1),
            "last_page": page_link(pages_total),
            "prev_page": page_link(page - 1) if page > 1 else None,
            "next_page": page_link(page + 1) if page < pages_total else None,
        }
        body = {"total": len(matches), "count": len(results), "page": page, "results": results, "_links": links}
        return 200, body, {}

    def api_create_refund(self, payment_id: str, data, base: str):
        with self._lock:
            payment = self._get(payment_id, "P0600")
            if not isinstance(data, dict):
                raise ApiError(400, "P0602", "Unable to parse JSON: the body must be a JSON object")
            for name in ("amount", "refund_amount_available"):
                value = data.get(name)
                if value is None:
                    raise ApiError(400, "P0601", f"Missing mandatory attribute: {name}", name)
                if isinstance(value, bool) or not isinstance(value, int) or (name == "amount" and value < 1):
                    raise ApiError(
                        400, "P0602", f"Invalid attribute value: {name}. Must be a whole number of pence", name
                    )
            amount, expected = data["amount"], data["refund_amount_available"]
            summary = refund_summary(payment)
            if payment.status != "success":
                raise ApiError(400, "P0603", "The payment is not available for refund")
            if expected != summary["amount_available"]:
                # Two refunds prepared from the same read: only the first one goes through,
                # even when the first took everything.
                raise ApiError(412, "P0604", "Refund amount available mismatch")
            if summary["amount_available"] <= 0:
                raise ApiError(400, "P0603", "The payment has been refunded in full")
            if amount > summary["amount_available"]:
                raise ApiError(400, "P0603", "The refund amount is more than the amount available for refund")
            refund = Refund(new_id(), amount, "submitted", self._now())
            payment.refunds.append(refund)
            self._dirty = True
            body = refund_json(payment, refund, base)
            # The sandbox settles a refund at once; the answer still says "submitted", as the real one does.
            if self._take("fail_next_refunds"):
                refund.status = "error"
            else:
                refund.status = "success"
                self._emit_webhook(payment, "card_payment_refunded")
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
                "_embedded": {"refunds": [refund_json(payment, r, base) for r in payment.refunds]},
            }
            return 200, body, {}

    def api_get_refund(self, payment_id: str, refund_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id, "P0600")
            for refund in payment.refunds:
                if refund.refund_id == refund_id:
                    return 200, refund_json(payment, refund, base), {}
            raise ApiError(404, "P0700", "Refund not found")
