"""The payment provider adapter: a client for its REST API (GOV.UK Pay–compatible).

It implements `penaltypay.payments.ports.PaymentProvider` and raises that port's error
family; nothing else in penaltypay talks HTTP to the provider (checked by import-linter). The same code
talks to the real provider and to penaltypay's sandbox; only the base URL and
API key differ.

No card data ever reaches penaltypay, and the payer's email is never logged:
log lines carry the method, path, status and error code only.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from penaltypay.adapters.pay_mapping import (
    api_time,
    dispute_from_json,
    payment_from_json,
    refund_from_json,
    verify_webhook_signature,
)
from penaltypay.adapters.pay_transport import ProviderHttp
from penaltypay.payments.ports import (
    PaymentNotFound,
    ProviderDispute,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRefund,
    Settled,
)

log = logging.getLogger(__name__)


# The search answers at most this many payments a page; following more pages than
# this for one reference means something is badly wrong, so we stop.
_SEARCH_PAGE_SIZE = 500
_MAX_SEARCH_PAGES = 20
# A day's reconciliation reads every page: 2,000 pages of 500 is a million payments.
_MAX_RECONCILE_PAGES = 2000


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return quote(value, safe="")


class PayClient(ProviderHttp):
    """One provider account. Cheap to build; pass `session` to share connections."""

    def __init__(self, *args: Any, webhook_secrets: tuple[str, ...] | list[str] = (), **transport: Any):
        """`ProviderHttp`'s arguments (base URL, key, timeout, session, retries, bulkhead), and
        the webhook secrets."""
        super().__init__(*args, **transport)
        # More than one while a secret is being rotated: a webhook signed with either is genuine.
        self._webhook_secrets = tuple(secret for secret in webhook_secrets if secret)

    def __repr__(self) -> str:  # never show the key or the secrets
        return f"PayClient({self.base_url!r})"

    def webhook_signature_valid(self, raw_body: bytes, signature: str | None) -> bool:
        """True when `Pay-Signature` is the HMAC of the exact raw body under one of our secrets."""
        return any(verify_webhook_signature(raw_body, signature, secret) for secret in self._webhook_secrets)

    # -- payments --

    def create_payment(
        self,
        *,
        amount: int,
        reference: str,
        description: str,
        return_url: str,
        language: str = "en",
        email: str | None = None,
        moto: bool = False,
        metadata: dict | None = None,
    ) -> ProviderPayment:
        """Create a payment; send the payer to its `next_url`. Not idempotent: after
        ProviderOutcomeUnknown, search by `reference` before trying again."""
        body: dict = {
            "amount": amount,
            "reference": reference,
            "description": description,
            "return_url": return_url,
            "language": language,
        }
        if email:
            body["email"] = email
        if moto:
            body["moto"] = True
        if metadata:
            body["metadata"] = metadata
        return self._payment(self._request("POST", "/v1/payments", json_body=body, operation="create_payment"))

    def get_payment(self, payment_id: str) -> ProviderPayment:
        """The payment's current state (and, while unfinished, a fresh card-page link)."""
        path = f"/v1/payments/{_segment(payment_id, 'payment_id')}"
        return self._payment(self._request("GET", path, operation="get_payment"))

    def find_payments_by_reference(self, reference: str) -> list[ProviderPayment]:
        """Every payment the provider's search holds for our reference, newest first.
        The search lags behind: use it to find a payment, never to decide its outcome."""
        found: dict[str, ProviderPayment] = {}
        for page in range(1, _MAX_SEARCH_PAGES + 1):
            params = {"reference": reference, "display_size": _SEARCH_PAGE_SIZE, "page": page}
            try:
                data = self._request("GET", "/v1/payments", params=params, operation="search_payments")
            except PaymentNotFound as exc:
                # 404 P0402: past the last page. Any other 404 (say, a wrong base URL)
                # must not read as "no such payment exists".
                if exc.code == "P0402" and page > 1:
                    break
                raise
            results = data.get("results") if isinstance(data, dict) else None
            if not isinstance(results, list):
                raise ProviderOutcomeUnknown("provider search answer has no results list")
            for item in results:
                payment = self._parse(payment_from_json, item)
                found.setdefault(payment.payment_id, payment)
            next_page = (data.get("_links") or {}).get("next_page")
            if not results or not next_page:
                break
        else:
            log.warning("payment search stopped after %d pages", _MAX_SEARCH_PAGES)
        return list(found.values())

    def cancel_payment(self, payment_id: str) -> None:
        """Cancel an unfinished payment (it becomes `cancelled`, P0040).
        ProviderRejected (400) when it has already finished."""
        self._request("POST", f"/v1/payments/{_segment(payment_id, 'payment_id')}/cancel", operation="cancel_payment")

    # -- refunds --

    def create_refund(self, payment_id: str, amount: int, refund_amount_available: int) -> ProviderRefund:
        """Refund `amount` pence. `refund_amount_available` must be what we last read
        for the payment: a concurrent refund makes it stale (RefundAmountMismatch)."""
        data = self._request(
            "POST",
            f"/v1/payments/{_segment(payment_id, 'payment_id')}/refunds",
            json_body={"amount": amount, "refund_amount_available": refund_amount_available},
            operation="create_refund",
        )
        return self._parse(refund_from_json, data)

    def list_refunds(self, payment_id: str) -> list[ProviderRefund]:
        data = self._request(
            "GET", f"/v1/payments/{_segment(payment_id, 'payment_id')}/refunds", operation="list_refunds"
        )
        try:
            items = data["_embedded"]["refunds"]
        except (KeyError, TypeError):
            raise ProviderOutcomeUnknown("provider refund list has no refunds") from None
        return [self._parse(refund_from_json, item) for item in items]

    def get_refund(self, payment_id: str, refund_id: str) -> ProviderRefund:
        path = f"/v1/payments/{_segment(payment_id, 'payment_id')}/refunds/{_segment(refund_id, 'refund_id')}"
        return self._parse(refund_from_json, self._request("GET", path, operation="get_refund"))

    def search_payments(self, from_date: datetime, to_date: datetime) -> list[ProviderPayment]:
        """Every payment created in [from_date, to_date), every page of the search. Raises
        ProviderOutcomeUnknown rather than return part of the answer."""
        return [
            self._parse(payment_from_json, item)
            for item in self._every_page("/v1/payments", from_date, to_date, "search_payments")
        ]

    def search_refunds(self, from_date: datetime, to_date: datetime) -> list[ProviderRefund]:
        """Every refund created in [from_date, to_date), every page (each carries its payment_id)."""
        return [
            self._parse(refund_from_json, item)
            for item in self._every_page("/v1/refunds", from_date, to_date, "search_refunds")
        ]

    def search_disputes(self, from_date: datetime, to_date: datetime) -> list[ProviderDispute]:
        """Every dispute raised in [from_date, to_date), every page."""
        return [
            self._parse(dispute_from_json, item)
            for item in self._every_page("/v1/disputes", from_date, to_date, "search_disputes")
        ]

    def search_settled(self, from_day: date, to_day: date) -> Settled:
        """What was paid out on the days [from_day, to_day): payments, refunds, lost disputes."""
        window = {"from_settled_date": from_day.isoformat(), "to_settled_date": to_day.isoformat()}
        return Settled(
            payments=[
                self._parse(payment_from_json, item)
                for item in self._every_page("/v1/payments", None, None, "search_settled_payments", window)
            ],
            refunds=[
                self._parse(refund_from_json, item)
                for item in self._every_page("/v1/refunds", None, None, "search_settled_refunds", window)
            ],
            disputes=[
                self._parse(dispute_from_json, item)
                for item in self._every_page(
                    "/v1/disputes", None, None, "search_settled_disputes", {**window, "status": "lost"}
                )
            ],
        )

    def _every_page(
        self,
        path: str,
        from_date: datetime | None,
        to_date: datetime | None,
        operation: str,
        extra: dict[str, str] | None = None,
    ) -> list[dict]:
        found: list[dict] = []
        params: dict[str, object] = {"display_size": _SEARCH_PAGE_SIZE, **(extra or {})}
        if from_date is not None and to_date is not None:
            params.update(from_date=api_time(from_date), to_date=api_time(to_date))
        for page in range(1, _MAX_RECONCILE_PAGES + 1):
            try:
                data = self._request("GET", path, params={**params, "page": page}, operation=operation)
            except PaymentNotFound as exc:
                if exc.code == "P0402" and page > 1:  # past the last page
                    return found
                raise
            results = data.get("results") if isinstance(data, dict) else None
            if not isinstance(results, list):
                raise ProviderOutcomeUnknown("provider search answer has no results list")
            found.extend(results)
            # The dispute search names its links `links`; the others `_links` (published schemas).
            links = data.get("_links") or data.get("links") or {}
            if not results or not links.get("next_page"):
                return found
        raise ProviderOutcomeUnknown(f"provider search has more than {_MAX_RECONCILE_PAGES} pages")

    # -- plumbing --

    def _payment(self, data) -> ProviderPayment:
        return self._parse(payment_from_json, data)

    @staticmethod
    def _parse(parser, data):
        # A 2xx we cannot read: the request was probably acted on, but we cannot tell how.
        try:
            return parser(data)
        except ValueError as exc:
            raise ProviderOutcomeUnknown(f"provider answer could not be read: {exc}") from None
