"""What the sandbox provider holds: payments, refunds, test cards, error answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

log = logging.getLogger("standins.pay")


DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - the sandbox's own default

# number -> (brand, card type, outcome). The contract's test cards; nothing else is accepted.
TEST_CARDS: dict[str, tuple[str, str, str]] = {
    "4444333322221111": ("Visa", "credit", "success"),
    "4242424242424242": ("Visa", "credit", "success"),
    "4000056655665556": ("Visa", "debit", "success"),
    "5105105105105100": ("Mastercard", "credit", "success"),
    "371449635398431": ("American Express", "credit", "success"),
    "4000000000000002": ("Visa", "credit", "declined"),
    "4000000000000069": ("Visa", "credit", "expired_card"),
    "4000000000000127": ("Visa", "credit", "incorrect_cvc"),
    "4000000000000119": ("Visa", "credit", "provider_error"),
    # The bank asks for 3-D Secure: a challenge page, passed or failed (never for MOTO).
    "4000002500003155": ("Visa", "credit", "3ds"),
    # The payment succeeds; later the payer's bank disputes it, and the dispute is lost / won.
    "4000000000000259": ("Visa", "credit", "dispute_lost"),
    "4000000000002685": ("Visa", "credit", "dispute_won"),
}

OUTCOME_LABELS = {
    "success": "Success",
    "declined": "Declined",
    "expired_card": "Declined: expired card",
    "incorrect_cvc": "Declined: incorrect security code",
    "provider_error": "Provider error, no money taken",
    "3ds": "3-D Secure challenge, then success or declined",
    "dispute_lost": "Success, then disputed by the bank: the dispute is lost",
    "dispute_won": "Success, then disputed by the bank: the dispute is won",
}
# Outcomes that take the money (a disputed card pays first, as a real one does).
PAID_OUTCOMES = frozenset({"success", "dispute_lost", "dispute_won"})
DISPUTE_STATUSES = ("needs_response", "under_review", "lost", "won")

FAILURE_MESSAGES = {
    "P0010": "Payment method rejected",
    "P0020": "Payment expired",
    "P0030": "Payment was cancelled by the user",
    "P0040": "Payment was cancelled by the service",
    "P0050": "Payment provider returned an error",
}

PAYMENT_STATUSES = ("created", "started", "submitted", "capturable", "success", "failed", "cancelled", "error")
FINISHED = frozenset({"success", "failed", "cancelled", "error"})

MAX_AMOUNT = 10_000_000
MAX_API_BODY = 64 * 1024
MAX_FORM_BODY = 16 * 1024
MAX_DISPLAY_SIZE = 500
DELIVERY_LOG_SIZE = 1000


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso_time(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as the contract writes times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_id() -> str:
    # 26 lower-case base32 characters: the shape of the real provider's ids.
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def sign_webhook(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class SandboxStateError(RuntimeError):
    """The state file cannot be read or written. At start the sandbox refuses to run
    rather than silently forget payments the service still holds."""


class PaymentFinished(ValueError):
    """A control asked to change a payment that has already finished."""


class ApiError(Exception):
    """An error answer in the contract's shape: {"code", "field"?, "description"}."""

    def __init__(
        self, status: int, code: str | None, description: str, field: str | None = None, allow: str | None = None
    ):
        super().__init__(description)
        self.allow = allow  # the methods a 405's path does serve
        self.status = status
        self.code = code
        self.description = description
        self.field = field

    def body(self) -> dict:
        out: dict = {}
        if self.code:
            out["code"] = self.code
        if self.field:
            out["field"] = self.field
        out["description"] = self.description
        return out


@dataclass
class Refund:
    refund_id: str
    amount: int
    status: str
    created_at: datetime
    settled_on: date | None = None  # the payout it was taken from (once it succeeded)


@dataclass
class Dispute:
    """A payer's bank challenging a captured payment. `outcome` is what the test card
    decided at payment time; the status reaches it `dispute_decide_seconds` after opening."""

    dispute_id: str
    amount: int
    fee: int
    reason: str
    outcome: str  # lost | won
    created_at: datetime
    evidence_due: datetime
    status: str = "needs_response"
    decided_at: datetime | None = None
    settled_on: date | None = None  # lost only: the payout the amount and fee came out of

    @property
    def net_amount(self) -> int | None:
        return -(self.amount + self.fee) if self.status == "lost" else None


@dataclass
class Payment:
    payment_id: str
    seq: int
    amount: int
    reference: str
    description: str
    return_url: str
    language: str
    email: str | None
    moto: bool
    metadata: dict | None
    created_at: datetime
    status: str = "created"
    code: str | None = None
    three_d_secure_required: bool | None = None  # set once a card needing 3-D Secure is used
    challenge: object = None  # the card waiting on the 3-D Secure challenge page
    message: str | None = None
    provider_id: str | None = None
    card_details: dict | None = None
    captured_at: datetime | None = None
    fee: int | None = None  # the provider's fee, once captured
    settled_on: date | None = None  # the day's payout it was paid in
    dispute_plan: str | None = None  # lost | won: a disputed test card was used
    disputes: list = field(default_factory=list)
    events: list = field(default_factory=list)
    refunds: list = field(default_factory=list)
    # The newest card-page link handed out and not yet opened (rotated on every read).
    issued_token: str | None = None
    # The link whose page the payer has open: like the real provider's browser
    # session, it keeps working when the service reads the payment meanwhile.
    page_token: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def amount_submitted(self) -> int:
        return sum(r.amount for r in self.refunds if r.status in ("submitted", "success"))


def refuse_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON does not, and neither does the provider.
    raise ValueError(f"{name} is not JSON")
