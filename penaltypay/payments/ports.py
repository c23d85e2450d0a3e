"""What penaltypay needs from the payment provider and from the email service, as
interfaces the rest of the code depends on, with the provider's one error family.

The provider adapter (`penaltypay.adapters.pay_api.PayClient`, a GOV.UK Pay–compatible
REST client) and the receipt senders (`penaltypay.adapters.notify`) implement them.

Errors say what the caller may assume about the request it made:

- `ProviderUnreachable`: no connection was made, so nothing happened there.
- `ProviderOutcomeUnknown`: the request may have been acted on (timeout after
  sending, connection dropped, 5xx). A create is NOT idempotent at the
  provider: search by our own reference before creating again.
- `ProviderRejected` (and its subclasses): the provider answered and refused;
  repeating the same request will be refused again.
- `ProviderRateLimited`: refused before being acted on; retry after a pause.
- `ProviderAuthError`: our API key is missing or wrong (a configuration fault).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from penaltypay.kernel.wiring import Wire

PAYMENT_STATUSES = ("created", "started", "submitted", "capturable", "success", "failed", "cancelled", "error")
FINISHED_STATUSES = frozenset({"success", "failed", "cancelled", "error"})


# --- errors ----------------------------------------------------------------


class ProviderError(Exception):
    """Something went wrong talking to the payment provider."""


class ProviderRejected(ProviderError):
    """The provider answered 4xx: it refused the request, and will refuse it again."""

    def __init__(self, code: str | None, field: str | None, description: str, http_status: int):
        self.code = code
        self.field = field
        self.description = description
        self.http_status = http_status
        where = f" ({field})" if field else ""
        super().__init__(f"provider refused the request: HTTP {http_status} {code or 'no code'}{where}: {description}")


class PaymentNotFound(ProviderRejected):
    """No payment with that id (404 P0200, or P0600 on a refund request)."""


class RefundNotFound(ProviderRejected):
    """The payment exists but has no refund with that id (404 P0700)."""


class RefundNotAvailable(ProviderRejected):
    """P0603: not paid, fully refunded, or more than the amount still available."""


class RefundAmountMismatch(ProviderRejected):
    """412 P0604: our `refund_amount_available` is stale; another refund got there first."""


class ProviderRateLimited(ProviderError):
    """429 P0900: refused before being acted on; safe to retry after a pause."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ProviderOutcomeUnknown(ProviderError):
    """The request may or may not have been acted on (timeout, dropped connection, 5xx)."""


class ProviderUnreachable(ProviderError):
    """No connection could be made (refused, DNS, connect timeout): nothing happened."""


class ProviderBusy(ProviderUnreachable):
    """This process already has as many provider calls in flight as it allows (the
    bulkhead): nothing was sent; the keeper is asked to try again in a minute."""


class ProviderPaced(ProviderBusy):
    """The service's shared turns at the provider's published rate limit are taken further
    ahead than a payer is asked to wait (penaltypay.web.pacing): nothing was sent; a turn is
    free again in `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """401: the API key is missing or not accepted."""


# --- values ----------------------------------------------------------------


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as the provider reports it. `email` and `next_url` stay out of
    the repr so that logging one of these never leaks them."""

    payment_id: str
    amount: int
    reference: str
    description: str
    language: str
    email: str | None = field(repr=False)
    status: str
    finished: bool
    failure_code: str | None  # P0010, P0020, P0030, P0040, P0050
    failure_message: str | None
    next_url: str | None = field(repr=False)  # the payer's card page: only for the payer's browser
    provider_id: str | None
    card_brand: str | None
    card_last_four: str | None
    created_date: datetime
    captured_date: date | None
    refund_amount_available: int
    refund_status: str | None
    # When the provider asked for the money (settlement_summary.capture_submit_time):
    # with immediate capture, the moment of payment.
    authorised_at: datetime | None = None
    moto: bool = False
    wallet_type: str | None = None  # card_details.wallet_type: "Apple Pay" or "Google Pay"
    three_d_secure_required: bool = False  # authorisation_summary.three_d_secure.required
    case_reference: str = ""  # from our metadata, when the payment carries it
    # Settlement, once the money is taken (fee, net) and paid out to the bank (settled_date).
    fee: int | None = None
    net_amount: int | None = None
    settled_date: date | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "success"


@dataclass(frozen=True)
class ProviderRefund:
    refund_id: str
    amount: int
    status: str  # submitted | success | error
    created_date: datetime
    payment_id: str = ""  # in search results
    settled_date: date | None = None  # the day it was taken from a payout


DISPUTE_STATUSES = ("needs_response", "under_review", "won", "lost")
OPEN_DISPUTE_STATUSES = frozenset({"needs_response", "under_review"})


@dataclass(frozen=True)
class ProviderDispute:
    """A payer's bank challenging a payment (a chargeback), as the provider's dispute search
    reports it. `net_amount` (negative) and `settled_date` only once it is lost."""

    dispute_id: str
    payment_id: str
    amount: int
    fee: int
    status: str  # needs_response | under_review | won | lost
    reason: str
    created_date: datetime
    evidence_due_date: datetime | None
    net_amount: int | None = None
    settled_date: date | None = None


@dataclass(frozen=True)
class Settled:
    payments: list[ProviderPayment]
    refunds: list[ProviderRefund]
    disputes: list[ProviderDispute]


class PaymentProvider(Protocol):
    """A provider account (the adapter holds its URL, key and webhook secrets)."""

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
        metadata: dict[str, str] | None = None,
    ) -> ProviderPayment: ...

    def get_payment(self, payment_id: str) -> ProviderPayment: ...

    def find_payments_by_reference(self, reference: str) -> list[ProviderPayment]: ...

    def cancel_payment(self, payment_id: str) -> None: ...

    def create_refund(self, payment_id: str, amount: int, refund_amount_available: int) -> ProviderRefund: ...

    def list_refunds(self, payment_id: str) -> list[ProviderRefund]: ...

    def get_refund(self, payment_id: str, refund_id: str) -> ProviderRefund: ...

    def search_payments(self, from_date: datetime, to_date: datetime) -> list[ProviderPayment]: ...

    def search_refunds(self, from_date: datetime, to_date: datetime) -> list[ProviderRefund]: ...

    def search_disputes(self, from_date: datetime, to_date: datetime) -> list[ProviderDispute]:
        """Every dispute raised in [from_date, to_date), whatever its status now."""
        ...

    def search_settled(self, from_day: date, to_day: date) -> Settled:
        """Every payment, refund and lost dispute settled (paid out) on a day in [from_day, to_day)."""
        ...

    def webhook_signature_valid(self, raw_body: bytes, signature: str | None) -> bool: ...


class ReceiptSender(Protocol):
    """Sends the keeper's receipt for a successful payment; raises on failure (it is retried)."""

    def send_payment_receipt(self, payment: Any) -> None: ...

    def send_refund_confirmation(self, refund: Any) -> None: ...

    def send_payment_link(self, link: Any, url: str) -> None: ...


# The provider, as the worker's jobs look it up (wired in penaltypay.operations.apps).
payment_provider: Wire[PaymentProvider] = Wire("payment provider")
