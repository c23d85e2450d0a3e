"""The payment provider adapter: a client for its REST API (GOV.UK Pay–compatible).

It implements `penaltypay.payments.ports.PaymentProvider` and raises that port's error
family; nothing else in penaltypay talks HTTP to the provider (checked by import-linter). The same code
talks to the real provider and to penaltypay's sandbox; only the base URL and
API key differ.

No card data ever reaches penaltypay, and the payer's email is never logged:
log lines carry the method, path, status and error code only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from datetime import UTC, date, datetime
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from penaltypay.kernel.bulkhead import Bulkhead
from penaltypay.kernel.metrics import OUTBOUND_CALLS, PROVIDER_RATE_LIMITED, PROVIDER_RETRIES
from penaltypay.payments.ports import (
    DISPUTE_STATUSES,
    FINISHED_STATUSES,
    PaymentNotFound,
    ProviderAuthError,
    ProviderBusy,
    ProviderDispute,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderPayment,
    ProviderRateLimited,
    ProviderRefund,
    ProviderRejected,
    ProviderUnreachable,
    RefundAmountMismatch,
    RefundNotAvailable,
    RefundNotFound,
    Settled,
)

log = logging.getLogger(__name__)


# The search answers at most this many payments a page; following more pages than
# this for one reference means something is badly wrong, so we stop.
_SEARCH_PAGE_SIZE = 500
_MAX_SEARCH_PAGES = 20
# A day's reconciliation reads every page: 2,000 pages of 500 is a million payments.
_MAX_RECONCILE_PAGES = 2000


def _api_time(moment: datetime) -> str:
    """The provider's time format: ISO 8601 UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text) -> datetime:
    if not isinstance(text, str):
        raise ValueError("time is not a string")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not a whole number")
    return value


def payment_from_json(obj) -> ProviderPayment:
    """A payment object from an API answer or a webhook's `resource` (which has no
    `_links`). ValueError when it is not a payment object."""
    try:
        state = obj["state"]
        status = state["status"]
        if not isinstance(status, str) or not status:
            raise ValueError("state.status is missing")
        finished = state.get("finished")
        if not isinstance(finished, bool):
            finished = status in FINISHED_STATUSES
        card = obj.get("card_details") or {}
        settlement = obj.get("settlement_summary") or {}
        refunds = obj.get("refund_summary") or {}
        next_url = ((obj.get("_links") or {}).get("next_url") or {}).get("href")
        captured = settlement.get("captured_date")
        submitted = settlement.get("capture_submit_time")
        return ProviderPayment(
            payment_id=str(obj["payment_id"]),
            amount=_whole(obj["amount"], "amount"),
            reference=str(obj["reference"]),
            description=str(obj.get("description") or ""),
            language=str(obj.get("language") or "en"),
            email=obj.get("email") or None,
            status=status,
            finished=finished,
            failure_code=state.get("code") or None,
            failure_message=state.get("message") or None,
            next_url=next_url if (next_url and not finished) else None,
            provider_id=obj.get("provider_id") or None,
            card_brand=card.get("card_brand") or None,
            card_last_four=card.get("last_digits_card_number") or None,
            created_date=_parse_time(obj["created_date"]),
            captured_date=date.fromisoformat(captured) if captured else None,
            refund_amount_available=_whole(refunds.get("amount_available", 0), "refund_summary.amount_available"),
            refund_status=refunds.get("status") or None,
            authorised_at=_parse_time(submitted) if submitted else None,
            moto=obj.get("moto") is True,
            wallet_type=card.get("wallet_type") or None,
            three_d_secure_required=(
                ((obj.get("authorisation_summary") or {}).get("three_d_secure") or {}).get("required") is True
            ),
            case_reference=str((obj.get("metadata") or {}).get("case_reference") or ""),
            fee=_whole(obj["fee"], "fee") if obj.get("fee") is not None else None,
            net_amount=_whole(obj["net_amount"], "net_amount") if obj.get("net_amount") is not None else None,
            settled_date=_day(settlement.get("settled_date")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a payment object: {type(exc).__name__} {exc}") from None


def refund_from_json(obj) -> ProviderRefund:
    try:
        return ProviderRefund(
            refund_id=str(obj["refund_id"]),
            amount=_whole(obj["amount"], "amount"),
            status=str(obj["status"]),
            created_date=_parse_time(obj["created_date"]),
            payment_id=str(obj.get("payment_id") or ""),
            settled_date=_day((obj.get("settlement_summary") or {}).get("settled_date")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a refund object: {type(exc).__name__} {exc}") from None


def dispute_from_json(obj) -> ProviderDispute:
    try:
        status = str(obj["status"])
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"unknown dispute status {status!r}")
        due = obj.get("evidence_due_date")
        return ProviderDispute(
            dispute_id=str(obj["dispute_id"]),
            payment_id=str(obj["payment_id"]),
            amount=_whole(obj["amount"], "amount"),
            fee=_whole(obj.get("fee") or 0, "fee"),
            status=status,
            reason=str(obj.get("reason") or ""),
            created_date=_parse_time(obj["created_date"]),
            evidence_due_date=_parse_time(due) if due else None,
            net_amount=_whole(obj["net_amount"], "net_amount") if obj.get("net_amount") is not None else None,
            settled_date=_day((obj.get("settlement_summary") or {}).get("settled_date")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a dispute object: {type(exc).__name__} {exc}") from None


def _day(text) -> date | None:
    if text in (None, ""):
        return None
    if not isinstance(text, str):
        raise ValueError("a date is not a string")
    return date.fromisoformat(text)


def verify_webhook_signature(raw_body: bytes, signature_header: str | None, secret: str) -> bool:
    """True when `Pay-Signature` is the HMAC-SHA256 (hex) of the exact raw body."""
    if not signature_header or not secret or raw_body is None:
        return False
    given = signature_header.strip().lower()
    if len(given) != 64 or any(c not in "0123456789abcdef" for c in given):
        return False
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


# --- the client ------------------------------------------------------------


def _never_connected(exc: BaseException) -> bool:
    """True when requests failed before any byte of the request could be sent."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, ConnectionRefusedError)):
            return True
        stack.append(getattr(current, "reason", None))
        stack.append(current.__cause__)
        stack.append(current.__context__)
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
    return False


def _segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return quote(value, safe="")


class PayClient:
    """One provider account. Cheap to build; pass `session` to share connections."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        *,
        rate_limit_retries: int = 5,
        rate_limit_pause: float = 0.2,
        rate_limit_budget: float = 2.0,
        webhook_secrets: tuple[str, ...] | list[str] = (),
        bulkhead: Bulkhead | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._bulkhead = bulkhead  # shared by the process's clients: calls in flight, at most
        # More than one while a secret is being rotated: a webhook signed with either is genuine.
        self._webhook_secrets = tuple(secret for secret in webhook_secrets if secret)
        self._api_key = api_key
        self.timeout = timeout
        self._session = session or requests.Session()
        # A 429 was refused before being acted on, so repeating even a create is safe: a few
        # times, with short jittered pauses (0.2 s doubling), within `rate_limit_budget`
        # seconds in all, before the keeper is told to try later.
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_pause = rate_limit_pause
        self.rate_limit_budget = rate_limit_budget

    def __repr__(self) -> str:  # never show the key or the secrets
        return f"PayClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

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
            params.update(from_date=_api_time(from_date), to_date=_api_time(to_date))
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

    def _request(
        self, method: str, path: str, *, operation: str, json_body: dict | None = None, params: dict | None = None
    ):
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": "penaltypay",
        }
        attempt = 0
        give_up_at = time.monotonic() + self.rate_limit_budget
        while True:
            try:
                return self._request_once(method, path, operation, json_body, params, headers)
            except ProviderRateLimited:
                pause = self.rate_limit_pause * 2**attempt
                pause = random.uniform(pause / 2, pause)  # noqa: S311 - jitter, not a secret
                remaining = give_up_at - time.monotonic()
                if attempt >= self.rate_limit_retries or remaining < 0.05:
                    PROVIDER_RATE_LIMITED.labels(operation=operation).inc()
                    raise
                pause = min(pause, remaining)  # the last try uses what is left of the budget
                attempt += 1
                PROVIDER_RETRIES.labels(operation=operation).inc()
                log.info(
                    "payment provider rate limit: trying again", extra={"operation": operation, "attempt": attempt}
                )
                time.sleep(pause)

    def _request_once(self, method, path, operation, json_body, params, headers):
        if self._bulkhead is None:
            return self._send(method, path, operation, json_body, params, headers)
        with self._bulkhead.try_enter() as entered:
            if not entered:
                raise ProviderBusy(f"{self._bulkhead.capacity} provider calls already in flight")
            return self._send(method, path, operation, json_body, params, headers)

    def _send(self, method, path, operation, json_body, params, headers):
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                json=json_body,
                params=params,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.RequestException as exc:
            error = self._transport_error(exc)
            OUTBOUND_CALLS.labels("provider", operation, type(error).__name__).observe(time.monotonic() - started)
            log.warning(
                "payment provider call failed",
                extra={"method": method, "path": path, "error": type(error).__name__, "cause": type(exc).__name__},
            )
            raise error from exc
        elapsed = time.monotonic() - started
        OUTBOUND_CALLS.labels("provider", operation, str(response.status_code)).observe(elapsed)
        log.info(
            "payment provider call",
            extra={"method": method, "path": path, "status": response.status_code, "elapsed_ms": round(elapsed * 1000)},
        )
        return self._answer(response)

    @staticmethod
    def _transport_error(exc: requests.exceptions.RequestException) -> ProviderError:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return ProviderUnreachable("payment provider did not accept a connection in time")
        if isinstance(exc, requests.exceptions.Timeout):
            return ProviderOutcomeUnknown("payment provider did not answer in time")
        if isinstance(
            exc,
            (
                requests.exceptions.InvalidURL,
                requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema,
                requests.exceptions.InvalidHeader,
            ),
        ):
            return ProviderUnreachable(f"payment provider request could not be made: {type(exc).__name__}")
        if isinstance(exc, requests.exceptions.SSLError):
            return ProviderUnreachable("TLS handshake with the payment provider failed")
        if isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc):
            return ProviderUnreachable("could not connect to the payment provider")
        # Reset or closed after the request went out, a broken answer, anything else:
        # the provider may have acted on it.
        return ProviderOutcomeUnknown(f"connection to the payment provider failed: {type(exc).__name__}")

    @staticmethod
    def _answer(response: requests.Response):
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ProviderOutcomeUnknown(f"provider answered {status} with a body that is not JSON") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        code = body.get("code") if isinstance(body.get("code"), str) else None
        field_name = body.get("field") if isinstance(body.get("field"), str) else None
        description = str(body.get("description") or response.reason or "")[:500]
        if status in (401, 403):
            raise ProviderAuthError(f"payment provider refused our credentials (HTTP {status})")
        if status == 429:
            retry_after = None
            try:
                retry_after = float(response.headers.get("Retry-After", ""))
            except ValueError:
                pass
            raise ProviderRateLimited(f"payment provider rate limit ({code or 'P0900'})", retry_after)
        if status >= 500 or status < 400:
            # 5xx: "the outcome of a create is unknown". A 3xx should never happen.
            raise ProviderOutcomeUnknown(f"payment provider answered HTTP {status} {code or ''}".rstrip())
        error_class: type[ProviderRejected]
        if status == 404:
            error_class = RefundNotFound if code == "P0700" else PaymentNotFound
        elif code == "P0603":  # 412 in the published API, 400 in older documentation
            error_class = RefundNotAvailable
        elif status == 412 or code == "P0604":
            error_class = RefundAmountMismatch
        else:
            error_class = ProviderRejected
        raise error_class(code, field_name, description, status)
