"""The provider adapter's transport: one HTTPS request to the provider's API, with our
bearer key, the bulkhead, a few jittered retries on its rate limit (a 429 was refused before
being acted on, so even a create may be repeated), and every failure translated into the
port's error family by what the caller may assume happened (penaltypay.payments.ports).
The operations are in penaltypay.adapters.pay_api, the mapping of answers in pay_mapping."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import requests
from urllib3.exceptions import NewConnectionError

from penaltypay.kernel.bulkhead import Bulkhead
from penaltypay.kernel.metrics import OUTBOUND_CALLS, PROVIDER_RATE_LIMITED, PROVIDER_RETRIES
from penaltypay.payments.ports import (
    PaymentNotFound,
    ProviderAuthError,
    ProviderBusy,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnreachable,
    RefundAmountMismatch,
    RefundNotAvailable,
    RefundNotFound,
)

log = logging.getLogger("penaltypay.adapters.pay_api")  # the name operators' log searches know


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


class ProviderHttp:
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
        bulkhead: Bulkhead | None = None,
        pacing: Callable[[str], None] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._bulkhead = bulkhead  # shared by the process's clients: calls in flight, at most
        # Every POST waits for its turn under the provider's limit (shared by every process),
        # outside the bulkhead: a POST waiting its turn holds no slot of the calls in flight.
        self._pacing = pacing
        self._api_key = api_key
        self.timeout = timeout
        self._session = session or requests.Session()
        # A 429 was refused before being acted on, so repeating even a create is safe: a few
        # times, with short jittered pauses (0.2 s doubling), within `rate_limit_budget`
        # seconds in all, before the keeper is told to try later.
        self.rate_limit_retries = rate_limit_retries
        self.rate_limit_pause = rate_limit_pause
        self.rate_limit_budget = rate_limit_budget

    def close(self) -> None:
        self._session.close()

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
            if method == "POST" and self._pacing is not None:
                self._pacing(operation)
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
