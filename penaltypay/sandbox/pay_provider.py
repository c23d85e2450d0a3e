"""Sandbox payment provider: a real local HTTP server speaking the payment
provider contract (a GOV.UK Pay–compatible subset; see the contract README).

penaltypay talks to it exactly as it talks to the real provider, so switching
is configuration only. On top of the contract it has:

- a hosted card page (`/secure/{token}`) that takes the contract's test cards;
- fault controls the reliability tests need: delayed, dropped, duplicated and
  reordered webhooks, creates that answer 500 after (or before) storing the
  payment, slow create answers, a lagging search;
- a control API under `/_sandbox/…` (no authentication: never expose it) and
  the same controls as Python methods on `SandboxProvider`.

Plain standard library and no Django, so it runs as its own process
(`python -m penaltypay.sandbox.pay_provider --port 8082`) or in a test's thread.
All state is in memory behind one lock. With a state file (`state_file=` /
`--state-file PATH`) the payments, their events and refunds also survive a
restart, as a real provider's do: the file is read at construction and rewritten
atomically after every change to them. Settings, faults, card-page links and
webhook deliveries are never saved. A full card number never leaves the
function that checks the card form: only the brand and last four digits are kept.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import math
import os
import re
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from heapq import heappop, heappush
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from penaltypay.sandbox import pay_provider_pages as pages

log = logging.getLogger("penaltypay.sandbox.pay_provider")

DEFAULT_API_KEY = "sandbox-api-key"
DEFAULT_WEBHOOK_SECRET = "sandbox-webhook-secret"

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
}

_OUTCOME_LABELS = {
    "success": "Success",
    "declined": "Declined",
    "expired_card": "Declined: expired card",
    "incorrect_cvc": "Declined: incorrect security code",
    "provider_error": "Provider error, no money taken",
}

FAILURE_MESSAGES = {
    "P0010": "Payment method rejected",
    "P0020": "Payment expired",
    "P0030": "Payment was cancelled by the user",
    "P0040": "Payment was cancelled by the service",
    "P0050": "Payment provider returned an error",
}

PAYMENT_STATUSES = ("created", "started", "submitted", "capturable", "success", "failed", "cancelled", "error")
_FINISHED = frozenset({"success", "failed", "cancelled", "error"})

MAX_AMOUNT = 10_000_000
MAX_API_BODY = 64 * 1024
MAX_FORM_BODY = 16 * 1024
MAX_DISPLAY_SIZE = 500
DELIVERY_LOG_SIZE = 1000


# --- small helpers ---------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso_time(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, as the contract writes times."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _new_id() -> str:
    # 26 lower-case base32 characters: the shape of the real provider's ids.
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()


def sign_webhook(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class SandboxStateError(RuntimeError):
    """The state file cannot be read or written. At start the sandbox refuses to run
    rather than silently forget payments the service still holds."""


class PaymentFinished(ValueError):
    """A control asked to change a payment that has already finished."""


class _ApiError(Exception):
    """An error answer in the contract's shape: {"code", "field"?, "description"}."""

    def __init__(self, status: int, code: str | None, description: str, field: str | None = None):
        super().__init__(description)
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


# --- configuration ---------------------------------------------------------


def _check_number(name, value, *, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < minimum:
        raise ValueError(f"{name} must be a number ≥ {minimum}")
    return value


def _check_count(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number ≥ 0")
    return value


def _check_flag_or_count(name, value):
    # True: every message until switched off; an int N: the next N messages.
    if isinstance(value, bool):
        return value
    return _check_count(name, value)


def _check_optional_url(name, value):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ValueError(f"{name} must be an http(s) URL or null")
    return value.rstrip("/") if name == "public_url" else value


def _check_secret(name, value):
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _check_strings(name, value):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return list(value)


def _check_schedule(name, value):
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list of seconds")
    return [_check_number(name, v) for v in value]


# name -> (default, validator). `configure` and POST /_sandbox/config accept exactly these.
_CONFIG_SPEC = {
    "api_keys": ([DEFAULT_API_KEY], _check_strings),
    "webhook_url": (None, _check_optional_url),
    "webhook_secret": (DEFAULT_WEBHOOK_SECRET, _check_secret),
    "webhook_delay": (0.0, _check_number),
    "webhook_drop": (False, _check_flag_or_count),
    "webhook_duplicate": (False, _check_flag_or_count),
    "webhook_reorder": (False, _check_flag_or_count),
    # The contract's schedule; tests shorten it.
    "webhook_retry_schedule": ([60, 300, 3600, 86400, 172800], _check_schedule),
    "webhook_timeout": (5.0, lambda n, v: _check_number(n, v, minimum=0.01)),
    "expiry_seconds": (90 * 60, _check_number),
    "sweep_interval": (1.0, lambda n, v: _check_number(n, v, minimum=0.01)),
    "fail_next_creates_after_commit": (0, _check_count),
    "fail_next_creates_before_commit": (0, _check_count),
    "fail_next_refunds": (0, _check_count),
    "create_delay": (0.0, _check_number),
    "search_delay": (0.0, _check_number),
    "rate_limit_per_second": (15, _check_count),  # 0 switches the limit off
    "public_url": (None, _check_optional_url),
    # return_url may be plain http only on these hosts ("*" allows any). "testserver"
    # is the host Django's test client puts in absolute URLs.
    "http_return_url_hosts": (["localhost", "127.0.0.1", "::1", "testserver"], _check_strings),
}


def _validated_config(changes: dict) -> dict:
    unknown = sorted(set(changes) - set(_CONFIG_SPEC))
    if unknown:
        raise ValueError(f"unknown sandbox setting(s): {', '.join(unknown)}")
    return {name: _CONFIG_SPEC[name][1](name, value) for name, value in changes.items()}


# --- create validation -----------------------------------------------------

_FORBIDDEN_IN_TEXT = re.compile(r"[<>|]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _missing(name: str) -> _ApiError:
    return _ApiError(400, "P0101", f"Missing mandatory attribute: {name}", name)


def _wrong_type(name: str, what: str) -> _ApiError:
    return _ApiError(400, "P0102", f"Invalid attribute value: {name}. {what}", name)


def _bad_value(name: str, what: str) -> _ApiError:
    return _ApiError(422, "P0102", f"Invalid attribute value: {name}. {what}", name)


def _required_text(data: dict, name: str, *, max_length: int, plain: bool) -> str:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _missing(name)
    if not isinstance(value, str):
        raise _wrong_type(name, "Must be a string")
    if plain and _FORBIDDEN_IN_TEXT.search(value):
        raise _wrong_type(name, "Must not contain the characters <, > or |")
    if len(value) > max_length:
        raise _bad_value(name, f"Must be {max_length} characters or fewer")
    return value


def _http_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower()
    return "*" in allowed or host in allowed or host.endswith(".localhost")


def _check_return_url(data: dict, allowed_http_hosts: list[str]) -> str:
    value = data.get("return_url")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _missing("return_url")
    if not isinstance(value, str):
        raise _wrong_type("return_url", "Must be a string")
    if len(value) > 2000:
        raise _bad_value("return_url", "Must be 2000 characters or fewer")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise _bad_value("return_url", "Must be a valid URL") from None
    if parts.scheme not in ("http", "https") or not host or re.search(r"[\s\x00-\x1f\x7f]", value):
        raise _bad_value("return_url", "Must be a valid URL")
    if parts.scheme == "http" and not _http_allowed(host, allowed_http_hosts):
        raise _bad_value("return_url", "Must be a valid URL using https")
    return value


def _check_metadata(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad_value("metadata", "Must be an object of keys and values")
    if len(value) > 15:
        raise _bad_value("metadata", "Must have 15 keys or fewer")
    seen: set[str] = set()
    for key, item in value.items():
        if not 1 <= len(key) <= 30:
            raise _bad_value("metadata", "Keys must be 1 to 30 characters")
        if key.lower() in seen:
            raise _bad_value("metadata", "Keys must be unique ignoring case")
        seen.add(key.lower())
        if isinstance(item, str):
            if len(item) > 100:
                raise _bad_value("metadata", "String values must be 100 characters or fewer")
        elif not isinstance(item, (bool, int, float)):
            raise _bad_value("metadata", "Values must be strings, numbers or booleans")
    return dict(value)


def validate_create(data, allowed_http_hosts: list[str]) -> dict:
    """The create request's fields, checked in the contract's order; the first
    fault found is the answer (as the real provider does)."""
    if not isinstance(data, dict):
        raise _ApiError(400, "P0197", "Unable to parse JSON: the body must be a JSON object")
    amount = data.get("amount")
    if amount is None:
        raise _missing("amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise _wrong_type("amount", "Must be a whole number of pence")
    if not 1 <= amount <= MAX_AMOUNT:
        raise _bad_value("amount", f"Must be between 1 and {MAX_AMOUNT}")
    out = {
        "amount": amount,
        "reference": _required_text(data, "reference", max_length=255, plain=True),
        "description": _required_text(data, "description", max_length=255, plain=True),
        "return_url": _check_return_url(data, allowed_http_hosts),
    }
    language = data.get("language")
    if language is None:
        language = "en"
    elif not isinstance(language, str):
        raise _wrong_type("language", "Must be a string")
    elif language not in ("en", "cy"):
        raise _bad_value("language", "Must be \"en\" or \"cy\"")
    out["language"] = language
    email = data.get("email")
    if email is not None:
        if not isinstance(email, str):
            raise _wrong_type("email", "Must be a string")
        if len(email) > 254:
            raise _bad_value("email", "Must be 254 characters or fewer")
        if not _EMAIL.match(email):
            raise _bad_value("email", "Must be a valid email address")
    out["email"] = email
    moto = data.get("moto")
    if moto is not None and not isinstance(moto, bool):
        raise _wrong_type("moto", "Must be true or false")
    out["moto"] = bool(moto)
    out["metadata"] = _check_metadata(data.get("metadata"))
    return out


# --- the card form ---------------------------------------------------------


@dataclass(frozen=True)
class CardOutcome:
    """What is kept of a card once checked: never the full number or security code."""

    brand: str
    card_type: str
    last_four: str
    expiry: str  # MM/YY
    cardholder_name: str
    outcome: str  # success | declined | expired_card | incorrect_cvc | provider_error


def check_card_form(form: dict[str, str], today: date) -> tuple[dict[str, str], CardOutcome | None]:
    """Check the card page's fields. Returns (errors by field, None) or ({}, outcome)."""
    errors: dict[str, str] = {}
    number = re.sub(r"[\s-]", "", form.get("card_number", ""))
    if not number:
        errors["card_number"] = "card_number_missing"
    elif not re.fullmatch(r"[0-9]{12,19}", number):
        errors["card_number"] = "card_number_invalid"
    elif number not in TEST_CARDS:
        errors["card_number"] = "card_number_unknown"

    month_text = form.get("expiry_month", "").strip()
    year_text = form.get("expiry_year", "").strip()
    expiry = ""
    if not month_text and not year_text:
        errors["expiry"] = "expiry_missing"
    elif (
        not re.fullmatch(r"[0-9]{1,2}", month_text)
        or not re.fullmatch(r"[0-9]{2}|[0-9]{4}", year_text)
        or not 1 <= int(month_text) <= 12
    ):
        errors["expiry"] = "expiry_invalid"
    else:
        month = int(month_text)
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        # A card is good until the end of its expiry month.
        if (year, month) < (today.year, today.month):
            errors["expiry"] = "expiry_past"
        expiry = f"{month:02d}/{year % 100:02d}"

    name = form.get("cardholder_name", "").strip()
    if not name:
        errors["cardholder_name"] = "name_missing"
    elif len(name) > 200:
        errors["cardholder_name"] = "name_too_long"

    code = form.get("security_code", "").strip()
    is_amex = number.startswith(("34", "37"))
    if not code:
        errors["security_code"] = "security_code_missing"
    elif not re.fullmatch(r"[0-9]{4}" if is_amex else r"[0-9]{3}", code):
        errors["security_code"] = "security_code_invalid"

    if errors:
        return errors, None
    brand, card_type, outcome = TEST_CARDS[number]
    return {}, CardOutcome(brand, card_type, number[-4:], expiry, name, outcome)


def _card_from_number(card_number: str, cardholder_name: str, today: date) -> CardOutcome:
    number = re.sub(r"[\s-]", "", str(card_number))
    if number not in TEST_CARDS:
        raise ValueError("not a sandbox test card number")
    brand, card_type, outcome = TEST_CARDS[number]
    expiry = f"12/{(today.year + 3) % 100:02d}"
    return CardOutcome(brand, card_type, number[-4:], expiry, cardholder_name, outcome)


# --- state -----------------------------------------------------------------


@dataclass
class _Refund:
    refund_id: str
    amount: int
    status: str
    created_at: datetime


@dataclass
class _Payment:
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
    message: str | None = None
    provider_id: str | None = None
    card_details: dict | None = None
    captured_at: datetime | None = None
    events: list = field(default_factory=list)
    refunds: list = field(default_factory=list)
    # The newest card-page link handed out and not yet opened (rotated on every read).
    issued_token: str | None = None
    # The link whose page the payer has open: like the real provider's browser
    # session, it keeps working when the service reads the payment meanwhile.
    page_token: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED

    def amount_submitted(self) -> int:
        return sum(r.amount for r in self.refunds if r.status in ("submitted", "success"))


# --- the state file --------------------------------------------------------
#
# One JSON document: {"format", "version", "next_seq", "payments": [...]}. Times are
# full-precision ISO 8601 with their offset. Card-page tokens are left out (a new
# read of the payment issues a fresh link); card numbers and security codes are
# never in a payment to begin with.

STATE_FORMAT = "penaltypay-sandbox-provider-state"
STATE_VERSION = 1


class _StateLock:
    """The sandbox's one re-entrant lock. When its outermost holder lets go after a
    change to the saved state, `on_release` writes the state file first, still
    under the lock, so every change (however it was reached) is saved in order."""

    def __init__(self, on_release):
        self._lock = threading.RLock()
        self._depth = 0  # only ever touched by the thread holding the lock
        self._on_release = on_release

    def __enter__(self):
        self._lock.acquire()
        self._depth += 1
        return self

    def __exit__(self, *exc_info):
        try:
            if self._depth == 1:
                self._on_release()
        finally:
            self._depth -= 1
            self._lock.release()
        return False


def _time_to_state(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time_from_state(value, what: str, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{what} has no UTC offset")
    return moment


def _expect(record: dict, name: str, kind: type, what: str, *, optional: bool = False):
    value = record.get(name)
    if value is None and optional:
        return None
    # (true and false are ints to isinstance, but not amounts or sequence numbers)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"{what}: {name} is missing or has the wrong type")
    return value


def _payment_to_state(payment: _Payment) -> dict:
    return {
        "payment_id": payment.payment_id,
        "seq": payment.seq,
        "amount": payment.amount,
        "reference": payment.reference,
        "description": payment.description,
        "return_url": payment.return_url,
        "language": payment.language,
        "email": payment.email,
        "moto": payment.moto,
        "metadata": payment.metadata,
        "created_at": _time_to_state(payment.created_at),
        "status": payment.status,
        "code": payment.code,
        "message": payment.message,
        "provider_id": payment.provider_id,
        "card_details": payment.card_details,
        "captured_at": _time_to_state(payment.captured_at),
        "events": [{"state": state, "at": _time_to_state(at)} for state, at in payment.events],
        "refunds": [
            {
                "refund_id": refund.refund_id,
                "amount": refund.amount,
                "status": refund.status,
                "created_at": _time_to_state(refund.created_at),
            }
            for refund in payment.refunds
        ],
    }


def _payment_from_state(record) -> _Payment:
    if not isinstance(record, dict):
        raise ValueError("a payment is not a JSON object")
    payment_id = _expect(record, "payment_id", str, "a payment")
    what = f"payment {payment_id}"
    status = _expect(record, "status", str, what)
    if status not in PAYMENT_STATUSES:
        raise ValueError(f"{what}: unknown status {status!r}")
    events = []
    for event in _expect(record, "events", list, what):
        if not isinstance(event, dict) or not isinstance(event.get("state"), dict):
            raise ValueError(f"{what}: an event has no state")
        events.append((event["state"], _time_from_state(event.get("at"), f"{what}: an event's time")))
    refunds = []
    for refund in _expect(record, "refunds", list, what):
        if not isinstance(refund, dict):
            raise ValueError(f"{what}: a refund is not a JSON object")
        refunds.append(
            _Refund(
                refund_id=_expect(refund, "refund_id", str, f"{what}: a refund"),
                amount=_expect(refund, "amount", int, f"{what}: a refund"),
                status=_expect(refund, "status", str, f"{what}: a refund"),
                created_at=_time_from_state(refund.get("created_at"), f"{what}: a refund's created_at"),
            )
        )
    return _Payment(
        payment_id=payment_id,
        seq=_expect(record, "seq", int, what),
        amount=_expect(record, "amount", int, what),
        reference=_expect(record, "reference", str, what),
        description=_expect(record, "description", str, what),
        return_url=_expect(record, "return_url", str, what),
        language=_expect(record, "language", str, what),
        email=_expect(record, "email", str, what, optional=True),
        moto=_expect(record, "moto", bool, what),
        metadata=_expect(record, "metadata", dict, what, optional=True),
        created_at=_time_from_state(record.get("created_at"), f"{what}: created_at"),
        status=status,
        code=_expect(record, "code", str, what, optional=True),
        message=_expect(record, "message", str, what, optional=True),
        provider_id=_expect(record, "provider_id", str, what, optional=True),
        card_details=_expect(record, "card_details", dict, what, optional=True),
        captured_at=_time_from_state(record.get("captured_at"), f"{what}: captured_at", optional=True),
        events=events,
        refunds=refunds,
    )


def _state_from_document(document) -> tuple[dict[str, _Payment], int]:
    """(payments by id, next sequence number) from a parsed state file; ValueError if it is not one."""
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise ValueError("not a sandbox provider state file")
    if document.get("version") != STATE_VERSION:
        raise ValueError(f"unsupported state file version {document.get('version')!r} (expected {STATE_VERSION})")
    records = document.get("payments")
    if not isinstance(records, list):
        raise ValueError("payments is missing or not a list")
    payments: dict[str, _Payment] = {}
    for record in records:
        payment = _payment_from_state(record)
        if payment.payment_id in payments:
            raise ValueError(f"payment {payment.payment_id} appears twice")
        payments[payment.payment_id] = payment
    next_seq = _expect(document, "next_seq", int, "the state file")
    next_seq = max([next_seq, *(p.seq + 1 for p in payments.values())])
    return payments, next_seq


@dataclass(order=True)
class _Delivery:
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


class _WebhookDispatcher:
    """One background thread that POSTs due deliveries in order. It never takes
    the sandbox's lock while holding its own (the sandbox calls in the other way)."""

    def __init__(self, sandbox: "SandboxProvider"):
        self._sandbox = sandbox
        self._cond = threading.Condition()
        self._queue: list[_Delivery] = []
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

    def push(self, delivery: _Delivery, due: float) -> None:
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

    def _post(self, delivery: _Delivery) -> tuple[int | None, str | None]:
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


# --- the provider ----------------------------------------------------------


class SandboxProvider:
    """The sandbox's state and operations, plus the HTTP server around them.

    Settings are the keys of `_CONFIG_SPEC`; keyword arguments given here are
    the values `reset()` returns to (so a standalone sandbox started with a
    webhook URL keeps it across resets).

    `state_file` (a path; None or "" for none, the default) makes payments durable:
    they are loaded from it here — a missing file means no payments yet, an
    unreadable or corrupt one raises SandboxStateError — and it is rewritten
    atomically after every change to them (including `reset()`, which empties it).
    It is not a setting: the control API cannot change it.
    """

    def __init__(self, *, clock=None, state_file=None, **settings):
        self._clock = clock or _utcnow
        self._initial = {name: spec[0] for name, spec in _CONFIG_SPEC.items()}
        self._initial.update(_validated_config(settings))
        self.state_file: Path | None = Path(state_file) if state_file else None
        self._dirty = False  # payments changed since the state file was last written
        self._lock = _StateLock(self._save_if_dirty)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake_sweeper = threading.Event()
        self._dispatcher = _WebhookDispatcher(self)
        self._next_seq = 1
        self._generation = 0
        self.base_url: str | None = None
        self._reset_state()
        if self.state_file is not None:
            self._load_state()

    # -- lifecycle --

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a daemon thread; returns the base URL (port 0 picks a free port)."""
        if self._server is not None:
            raise RuntimeError("sandbox provider already started")
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, port), _Handler, self)
        bound_port = self._server.server_address[1]
        shown = "127.0.0.1" if host in ("", "0.0.0.0") else ("[::1]" if host == "::" else host)
        if ":" in shown and not shown.startswith("["):
            shown = f"[{shown}]"
        self.base_url = f"http://{shown}:{bound_port}"
        self._stop.clear()
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-pay-http", daemon=True
            ),
            threading.Thread(target=self._sweep_forever, name="sandbox-pay-expiry", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._dispatcher.start()
        log.info("sandbox payment provider listening", extra={"url": self.base_url})
        return self.base_url

    def stop(self) -> None:
        self._stop.set()
        self._wake_sweeper.set()
        self._dispatcher.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def reset(self) -> None:
        """Forget every payment, delivery and fault; settings back to the initial ones."""
        with self._lock:
            self._reset_state()
            self._dispatcher.clear()
            self._dirty = True

    # -- the state file --

    def _refuse(self, reason: str) -> SandboxStateError:
        message = (
            f"sandbox provider state file {self.state_file} is unusable: {reason}. Refusing to start rather than "
            "forget payments; repair or move the file (a missing file starts empty), or run without a state file."
        )
        log.error(message)
        return SandboxStateError(message)

    def _load_state(self) -> None:
        path = self.state_file
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            log.info("no sandbox provider state file at %s yet: starting with no payments", path)
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise self._refuse(f"cannot read it ({exc})") from exc
        if text is not None:
            try:
                payments, next_seq = _state_from_document(json.loads(text, parse_constant=_refuse_constant))
            except ValueError as exc:  # json.JSONDecodeError included
                raise self._refuse(f"corrupt ({exc})") from exc
            self._payments, self._next_seq = payments, next_seq
            log.info("sandbox provider loaded %d payment(s) from %s", len(payments), path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock:
                self._dirty = True  # write it now: an unwritable place fails here, not on the first payment
        except (OSError, SandboxStateError) as exc:
            cause = exc.__cause__ if isinstance(exc, SandboxStateError) and exc.__cause__ else exc
            raise self._refuse(f"cannot write it ({cause})") from exc

    def _save_if_dirty(self) -> None:
        # Called by the lock as its outermost holder lets go, so still under the lock.
        if not self._dirty:
            return
        if self.state_file is None:
            self._dirty = False
            return
        document = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "saved_at": _time_to_state(self._now()),
            "next_seq": self._next_seq,
            "payments": [_payment_to_state(p) for p in sorted(self._payments.values(), key=lambda p: p.seq)],
        }
        data = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
        path = self.state_file
        try:
            # mkstemp: a new file only this user can read (it holds payers' emails).
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            with contextlib.suppress(OSError, AttributeError):  # make the rename itself durable (POSIX)
                directory = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as exc:
            # Still dirty: the next change tries again, with everything.
            log.error("could not write the sandbox provider state file %s: %s", path, exc)
            raise SandboxStateError(f"could not write the sandbox provider state file {path}: {exc}") from exc
        self._dirty = False

    def _reset_state(self) -> None:
        self._config = {k: (list(v) if isinstance(v, list) else v) for k, v in self._initial.items()}
        self._payments: dict[str, _Payment] = {}
        self._tokens: dict[str, str] = {}  # live card-page token -> payment id
        self._deliveries: deque = deque(maxlen=DELIVERY_LOG_SIZE)
        self._held: list[_Delivery] = []
        self._reorder_left = self._reorder_count(self._config["webhook_reorder"])
        self._posts: dict[str, deque] = {}
        # Deliveries already on the wire when a reset happens must not reappear afterwards.
        self._generation += 1

    def configure(self, **changes) -> dict:
        """Change settings (see `_CONFIG_SPEC`); returns them all. ValueError on a bad one."""
        checked = _validated_config(changes)
        with self._lock:
            self._config.update(checked)
            if "sweep_interval" in checked or "expiry_seconds" in checked:
                self._wake_sweeper.set()
            if "webhook_reorder" in checked:
                self._reorder_left = self._reorder_count(checked["webhook_reorder"])
                if not self._reorder_left:
                    self._release_held()
            return self.settings()

    @staticmethod
    def _reorder_count(setting) -> int:
        # -1: hold every message until reordering is switched off; N: hold the next N.
        return -1 if setting is True else int(setting)

    def settings(self) -> dict:
        with self._lock:
            return json.loads(json.dumps(self._config))

    def _setting(self, name: str):
        with self._lock:
            return self._config[name]

    def _take(self, name: str) -> bool:
        """Consume one use of a flag-or-count fault; True when it applies now."""
        value = self._config[name]
        if value is True:
            return True
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            self._config[name] = value - 1
            return True
        return False

    def _now(self) -> datetime:
        return self._clock()

    # -- payments --

    def _get(self, payment_id: str, not_found_code: str = "P0200") -> _Payment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise _ApiError(404, not_found_code, "Not found")
        self._expire_if_due(payment)
        return payment

    def _expire_if_due(self, payment: _Payment) -> None:
        if payment.finished:
            return
        deadline = payment.created_at + timedelta(seconds=self._config["expiry_seconds"])
        if self._now() >= deadline:
            self._finish(payment, "failed", "P0020")

    def _record_event(self, payment: _Payment) -> None:
        # Every change of a payment's state comes through here: it marks the state file stale.
        payment.events.append((self._state(payment), self._now()))
        self._dirty = True

    def _move(self, payment: _Payment, status: str) -> None:
        payment.status = status
        self._record_event(payment)

    def _issue_token(self, payment: _Payment) -> str:
        if payment.issued_token:
            self._tokens.pop(payment.issued_token, None)
        token = secrets.token_urlsafe(24)
        payment.issued_token = token
        self._tokens[token] = payment.payment_id
        return token

    def _open_page(self, payment: _Payment, token: str) -> None:
        """Bind a freshly issued link to the payer's page (single use: it cannot be opened again)."""
        if payment.page_token and payment.page_token != token:
            self._tokens.pop(payment.page_token, None)
        payment.page_token = token
        payment.issued_token = None
        if payment.status == "created":
            self._move(payment, "started")

    def _finish(self, payment: _Payment, status: str, code: str | None = None, card: CardOutcome | None = None):
        payment.status = status
        payment.code = code
        payment.message = FAILURE_MESSAGES.get(code) if code else None
        if status == "success" and card is not None:
            payment.provider_id = str(uuid.uuid4())
            payment.card_details = {
                "card_brand": card.brand,
                "card_type": card.card_type,
                "last_digits_card_number": card.last_four,
                "expiry_date": card.expiry,
                "cardholder_name": card.cardholder_name,
            }
            payment.captured_at = self._now()
        for token in (payment.issued_token, payment.page_token):
            if token:
                self._tokens.pop(token, None)
        payment.issued_token = payment.page_token = None
        self._record_event(payment)
        if status == "success":
            self._emit_webhook(payment, "card_payment_succeeded")
        elif status == "failed" and code == "P0020":
            self._emit_webhook(payment, "card_payment_expired")
        elif status in ("failed", "error"):
            self._emit_webhook(payment, "card_payment_failed")
        # A cancel by the service itself (P0040) sends nothing: the service asked for it.

    def _authorise(self, payment: _Payment, card: CardOutcome) -> None:
        if payment.status == "created":
            self._move(payment, "started")
        self._move(payment, "submitted")
        if card.outcome == "success":
            self._finish(payment, "success", card=card)
        elif card.outcome == "provider_error":
            self._finish(payment, "error", "P0050")
        else:
            self._finish(payment, "failed", "P0010")

    # -- JSON views --

    @staticmethod
    def _state(payment: _Payment) -> dict:
        state = {"status": payment.status, "finished": payment.finished}
        if payment.code:
            state["code"] = payment.code
            state["message"] = payment.message
        return state

    @staticmethod
    def _refund_summary(payment: _Payment) -> dict:
        submitted = payment.amount_submitted()
        if payment.status == "success":
            available = payment.amount - submitted
            status = "available" if available > 0 else "full"
        elif payment.finished:
            available, status = 0, "unavailable"
        else:
            available, status = payment.amount, "pending"
        return {"status": status, "amount_available": available, "amount_submitted": submitted}

    def _payment_json(self, payment: _Payment, base: str | None, *, next_token: str | None = None) -> dict:
        """The contract's payment object; without `base` (webhooks) it has no _links."""
        obj = {
            "payment_id": payment.payment_id,
            "amount": payment.amount,
            "reference": payment.reference,
            "description": payment.description,
            "return_url": payment.return_url,
            "language": payment.language,
            "email": payment.email,
            "moto": payment.moto,
            "metadata": dict(payment.metadata) if payment.metadata is not None else None,
            "state": self._state(payment),
            "created_date": iso_time(payment.created_at),
            "refund_summary": self._refund_summary(payment),
            "settlement_summary": (
                {
                    "capture_submit_time": iso_time(payment.captured_at),
                    "captured_date": payment.captured_at.date().isoformat(),
                }
                if payment.captured_at
                else {}
            ),
            "provider_id": payment.provider_id,
            "card_details": dict(payment.card_details) if payment.card_details else None,
        }
        if base is not None:
            href = f"{base}/v1/payments/{payment.payment_id}"
            links = {"self": {"href": href, "method": "GET"}}
            if next_token and not payment.finished:
                links["next_url"] = {"href": f"{base}/secure/{next_token}", "method": "GET"}
            links["events"] = {"href": f"{href}/events", "method": "GET"}
            links["refunds"] = {"href": f"{href}/refunds", "method": "GET"}
            links["cancel"] = {"href": f"{href}/cancel", "method": "POST"}
            obj["_links"] = links
        return obj

    @staticmethod
    def _refund_json(payment: _Payment, refund: _Refund, base: str) -> dict:
        href = f"{base}/v1/payments/{payment.payment_id}"
        return {
            "refund_id": refund.refund_id,
            "amount": refund.amount,
            "status": refund.status,
            "created_date": iso_time(refund.created_at),
            "_links": {
                "self": {"href": f"{href}/refunds/{refund.refund_id}", "method": "GET"},
                "payment": {"href": href, "method": "GET"},
            },
        }

    # -- API operations (each returns (status, body|None, extra headers)) --

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
                raise _ApiError(500, "P0999", "Payment provider unavailable")
            payment = _Payment(payment_id=_new_id(), seq=self._next_seq, created_at=self._now(), **fields)
            self._next_seq += 1
            self._payments[payment.payment_id] = payment
            self._record_event(payment)
            body = self._payment_json(payment, base, next_token=self._issue_token(payment))
            fail_after = self._take("fail_next_creates_after_commit")
            delay = self._config["create_delay"]
        # The payment exists from here on, whatever the caller hears.
        if delay:
            time.sleep(delay)
        if fail_after:
            raise _ApiError(500, "P0198", "Downstream system error")
        return 201, body, {"Location": body["_links"]["self"]["href"]}

    def api_get(self, payment_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id)
            token = None if payment.finished else self._issue_token(payment)
            return 200, self._payment_json(payment, base, next_token=token), {}

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
                raise _ApiError(400, "P0501", "Cancellation of payment failed: the payment has finished")
            self._finish(payment, "cancelled", "P0040")
            return 204, None, {}

    def api_search(self, query: str, base: str):
        params = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}

        def bad(name: str, what: str) -> _ApiError:
            return _ApiError(422, "P0401", f"Invalid parameters: {name}. {what}", name)

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
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

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
                raise _ApiError(404, "P0402", "Page not found")
            chosen = matches[(page - 1) * size : page * size]
            results = [self._payment_json(p, base) for p in chosen]

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
                raise _ApiError(400, "P0602", "Unable to parse JSON: the body must be a JSON object")
            for name in ("amount", "refund_amount_available"):
                value = data.get(name)
                if value is None:
                    raise _ApiError(400, "P0601", f"Missing mandatory attribute: {name}", name)
                if isinstance(value, bool) or not isinstance(value, int) or (name == "amount" and value < 1):
                    raise _ApiError(
                        400, "P0602", f"Invalid attribute value: {name}. Must be a whole number of pence", name
                    )
            amount, expected = data["amount"], data["refund_amount_available"]
            summary = self._refund_summary(payment)
            if payment.status != "success":
                raise _ApiError(400, "P0603", "The payment is not available for refund")
            if expected != summary["amount_available"]:
                # Two refunds prepared from the same read: only the first one goes through,
                # even when the first took everything.
                raise _ApiError(412, "P0604", "Refund amount available mismatch")
            if summary["amount_available"] <= 0:
                raise _ApiError(400, "P0603", "The payment has been refunded in full")
            if amount > summary["amount_available"]:
                raise _ApiError(400, "P0603", "The refund amount is more than the amount available for refund")
            refund = _Refund(_new_id(), amount, "submitted", self._now())
            payment.refunds.append(refund)
            self._dirty = True
            body = self._refund_json(payment, refund, base)
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
                "_embedded": {"refunds": [self._refund_json(payment, r, base) for r in payment.refunds]},
            }
            return 200, body, {}

    def api_get_refund(self, payment_id: str, refund_id: str, base: str):
        with self._lock:
            payment = self._get(payment_id, "P0600")
            for refund in payment.refunds:
                if refund.refund_id == refund_id:
                    return 200, self._refund_json(payment, refund, base), {}
            raise _ApiError(404, "P0700", "Refund not found")

    # -- the card page --

    def _page_payment(self, token: str) -> _Payment | None:
        payment_id = self._tokens.get(token)
        payment = self._payments.get(payment_id) if payment_id else None
        if payment is not None:
            self._expire_if_due(payment)
        if payment is None or payment.finished or token not in (payment.issued_token, payment.page_token):
            return None
        return payment

    def _card_page(self, payment: _Payment, token: str, errors=None, values=None) -> tuple[int, str, dict]:
        cards = [(number, f"{_OUTCOME_LABELS[o]} ({b} {t})" if o == "success" else _OUTCOME_LABELS[o])
                 for number, (b, t, o) in TEST_CARDS.items()]
        html = pages.card_page(
            language=payment.language,
            form_action=f"/secure/{token}",
            cancel_action=f"/secure/{token}/cancel",
            description=payment.description,
            amount=payment.amount,
            errors=errors,
            values=values,
            test_cards=cards,
        )
        return 200, html, {"Content-Security-Policy": pages.content_security_policy(payment.return_url)}

    @staticmethod
    def _expired_page(language: str = "en") -> tuple[int, str, dict]:
        # Same answer for unknown, used and finished links: it says nothing about which.
        return 410, pages.expired_page(language=language), {"Content-Security-Policy": pages.content_security_policy()}

    def page_open(self, token: str):
        with self._lock:
            payment = self._page_payment(token)
            if payment is None or token != payment.issued_token:
                return self._expired_page()
            self._open_page(payment, token)
            return self._card_page(payment, token)

    def page_submit(self, token: str, form: dict[str, str]):
        with self._lock:
            payment = self._page_payment(token)
            if payment is None:
                return self._expired_page()
            self._open_page(payment, token)
            errors, card = check_card_form(form, self._now().date())
            if card is None:
                shown = {k: form.get(k, "") for k in ("expiry_month", "expiry_year", "cardholder_name")}
                return self._card_page(payment, token, errors, shown)
            self._authorise(payment, card)
            return 303, None, {"Location": payment.return_url}

    def page_cancel(self, token: str):
        with self._lock:
            payment = self._page_payment(token)
            if payment is None:
                return self._expired_page()
            self._open_page(payment, token)
            self._finish(payment, "failed", "P0030")
            return 303, None, {"Location": payment.return_url}

    # -- operator / test controls --

    def complete(self, payment_id: str, card_number: str, *, cardholder_name: str = "Sandbox Tester") -> dict:
        """Drive a payment to the outcome of a test card, as if the payer used the card page."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(payment_id)
            card = _card_from_number(card_number, cardholder_name, self._now().date())
            self._expire_if_due(payment)
            if payment.finished:
                raise PaymentFinished("payment has already finished")
            self._authorise(payment, card)
            return self._payment_json(payment, None)

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
            return self._payment_json(payment, None)

    def payment(self, payment_id: str) -> dict:
        """Read a payment without issuing a new card-page link (for assertions)."""
        with self._lock:
            payment = self._payments.get(payment_id)
            if payment is None:
                raise KeyError(payment_id)
            self._expire_if_due(payment)
            return self._payment_json(payment, None)

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

    # -- webhooks --

    def _emit_webhook(self, payment: _Payment, event_type: str) -> None:
        url = self._config["webhook_url"]
        if not url:
            return
        message = {
            "webhook_message_id": _new_id(),
            "created_date": iso_time(self._now()),
            "resource_id": payment.payment_id,
            "api_version": 1,
            "resource_type": "payment",
            "event_type": event_type,
            "resource": self._payment_json(payment, None),
        }
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        delivery = _Delivery(
            due=0.0,
            seq=0,
            message_id=message["webhook_message_id"],
            event_type=event_type,
            resource_id=payment.payment_id,
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

    def _schedule(self, deliveries: list[_Delivery]) -> None:
        due = time.monotonic() + self._config["webhook_delay"]
        for delivery in deliveries:
            self._dispatcher.push(delivery, due)

    def _release_held(self) -> None:
        held, self._held = self._held, []
        self._schedule(list(reversed(held)))

    def _log_delivery(self, delivery: _Delivery, *, status, outcome: str, error) -> None:
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

    def _after_delivery_attempt(self, delivery: _Delivery, status: int | None, error: str | None) -> None:
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
        # Payments nobody reads still expire (and send their webhook) on time.
        while not self._stop.is_set():
            self._wake_sweeper.wait(self._setting("sweep_interval"))
            self._wake_sweeper.clear()
            try:
                with self._lock:
                    for payment in list(self._payments.values()):
                        self._expire_if_due(payment)
            except Exception:
                log.exception("expiry sweep failed")

    # -- control API --

    def control(self, method: str, path: str, data) -> tuple[int, dict | None]:
        if path == "/_sandbox/health" and method == "GET":
            return 200, {"status": "ok"}
        if path == "/_sandbox/config":
            if method == "GET":
                return 200, self.settings()
            if method == "POST":
                if not isinstance(data, dict):
                    raise _ApiError(400, None, "body must be a JSON object")
                try:
                    return 200, self.configure(**data)
                except ValueError as exc:
                    raise _ApiError(400, None, str(exc)) from None
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
                    raise _ApiError(400, None, "card_number is required (or \"cancel\": true)")
                name = data.get("cardholder_name") or "Sandbox Tester"
                return 200, self.complete(payment_id, data["card_number"], cardholder_name=str(name)[:200])
            except KeyError:
                raise _ApiError(404, "P0200", "Not found") from None
            except PaymentFinished as exc:
                raise _ApiError(409, None, str(exc)) from None
            except ValueError as exc:
                raise _ApiError(400, None, str(exc)) from None
        raise _ApiError(404, None, "Not found")


# --- HTTP ------------------------------------------------------------------


def _refuse_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON does not, and neither does the provider.
    raise ValueError(f"{name} is not JSON")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, sandbox: SandboxProvider):
        self.sandbox = sandbox
        super().__init__(address, handler)

    def handle_error(self, request, client_address):
        # A client that hung up (a test's timeout) is not the sandbox's problem.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("sandbox provider request failed")


class _Server6(_Server):
    address_family = socket.AF_INET6


_PAYMENT_PATH = re.compile(r"/v1/payments/([A-Za-z0-9_-]{1,64})(/events|/cancel|/refunds(?:/([A-Za-z0-9_-]{1,64}))?)?")
_SECURE_PATH = re.compile(r"/secure/([A-Za-z0-9_-]{1,128})(/cancel)?")
_ROUTES_ALLOWING = {"GET", "POST"}


class _Handler(BaseHTTPRequestHandler):
    server_version = "SandboxPay/1"
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are closed after this

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return self.server_version

    @property
    def sandbox(self) -> SandboxProvider:
        return self.server.sandbox

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def log_message(self, format, *args):
        # Card-page links are secrets: keep them out of the log.
        log.debug(re.sub(r"/secure/[^\s/?\"]+", "/secure/<token>", format % args))

    # -- plumbing --

    def _read_body(self, limit: int) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise _ApiError(411, None, "Content-Length required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise _ApiError(400, None, "bad Content-Length") from None
        if length > limit:
            self.close_connection = True
            raise _ApiError(413, None, "body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, content_type: str | None, headers: dict | None = None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        merged = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **(headers or {})}
        for name, value in merged.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj, headers: dict | None = None) -> None:
        if obj is None:
            self._send(status, b"", None, headers)
        else:
            self._send(status, json.dumps(obj).encode("utf-8"), "application/json", headers)

    def _send_html(self, status: int, html: str | None, headers: dict) -> None:
        headers = {
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            **headers,
        }
        self._send(status, (html or "").encode("utf-8"), "text/html; charset=utf-8" if html else None, headers)

    def _base_url(self) -> str:
        public = self.sandbox._setting("public_url")
        if public:
            return public
        host = self.headers.get("Host")
        if host and re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", host):
            return f"http://{host}"
        return self.sandbox.base_url or ""

    @staticmethod
    def _json(body: bytes):
        if not body:
            return None
        try:
            return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError):
            raise _ApiError(400, "P0197", "Unable to parse JSON") from None

    def _api_key(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or key not in self.sandbox._setting("api_keys"):
            raise _ApiError(401, None, "Credentials are required to access this resource")
        return key

    # -- routing --

    def _dispatch(self, method: str) -> None:
        path = ""
        try:
            split = urlsplit(self.path)
            path = split.path
            if path.startswith("/secure/"):
                self._card_page(method, path)
            elif path.startswith("/v1/"):
                self._api(method, path, split.query)
            elif path == pages.STYLESHEET_PATH and method == "GET":
                self._send(200, pages.STYLESHEET.encode("utf-8"), "text/css; charset=utf-8",
                           {"Cache-Control": "public, max-age=3600"})
            elif path.startswith("/_sandbox/"):
                data = self._json(self._read_body(MAX_API_BODY))
                status, obj = self.sandbox.control(method, path, data)
                self._send_json(status, obj)
            else:
                self._read_body(MAX_API_BODY)
                raise _ApiError(404, None, "Not found")
        except _ApiError as exc:
            headers = {}
            if exc.status == 401:
                headers["WWW-Authenticate"] = "Bearer"
            if exc.status == 429:
                headers["Retry-After"] = "1"
            self._send_json(exc.status, exc.body(), headers)
        except Exception:
            log.exception("sandbox provider failed on %s %s", method, re.sub(r"/secure/[^/]+", "/secure/<token>", path))
            self.close_connection = True
            self._send_json(500, {"code": "P0999", "description": "Sandbox internal error"})

    def _api(self, method: str, path: str, query: str) -> None:
        body = self._read_body(MAX_API_BODY)
        api_key = self._api_key()
        if method == "POST":
            with self.sandbox._lock:
                limited = self.sandbox._rate_limited(api_key)
            if limited:
                raise _ApiError(429, "P0900", "Too many requests")
        base = self._base_url()
        sandbox = self.sandbox
        if path == "/v1/payments":
            if method == "POST":
                result = sandbox.api_create(self._json(body), base)
            elif method == "GET":
                result = sandbox.api_search(query, base)
            else:
                raise _ApiError(405, None, "Method not allowed")
        else:
            match = _PAYMENT_PATH.fullmatch(path)
            if not match:
                raise _ApiError(404, None, "Not found")
            payment_id, tail, refund_id = match.group(1), match.group(2) or "", match.group(3)
            route = (method, tail if refund_id is None else "/refunds/{id}")
            if route == ("GET", ""):
                result = sandbox.api_get(payment_id, base)
            elif route == ("GET", "/events"):
                result = sandbox.api_events(payment_id, base)
            elif route == ("POST", "/cancel"):
                result = sandbox.api_cancel(payment_id)
            elif route == ("POST", "/refunds"):
                result = sandbox.api_create_refund(payment_id, self._refund_json(body), base)
            elif route == ("GET", "/refunds"):
                result = sandbox.api_list_refunds(payment_id, base)
            elif route == ("GET", "/refunds/{id}"):
                result = sandbox.api_get_refund(payment_id, refund_id, base)
            else:
                raise _ApiError(405, None, "Method not allowed")
        status, obj, headers = result
        self._send_json(status, obj, headers)

    def _refund_json(self, body: bytes):
        try:
            return self._json(body)
        except _ApiError:
            raise _ApiError(400, "P0602", "Unable to parse JSON") from None

    def _card_page(self, method: str, path: str) -> None:
        body = self._read_body(MAX_FORM_BODY)
        match = _SECURE_PATH.fullmatch(path)
        sandbox = self.sandbox
        if not match:
            status, html, headers = sandbox._expired_page()
        else:
            token, cancel = match.group(1), bool(match.group(2))
            if method == "GET" and not cancel:
                status, html, headers = sandbox.page_open(token)
            elif method == "POST" and cancel:
                status, html, headers = sandbox.page_cancel(token)
            elif method == "POST":
                try:
                    fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
                except (UnicodeDecodeError, ValueError):
                    fields = {}
                status, html, headers = sandbox.page_submit(token, {k: v[0] for k, v in fields.items()})
            else:
                status, html, headers = sandbox._expired_page()
        self._send_html(status, html, headers)


# --- running it on its own ---------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m penaltypay.sandbox.pay_provider", description="Run the sandbox payment provider."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted API key (repeatable)")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--expiry-seconds", type=float, default=None, help="unfinished payments fail after this")
    parser.add_argument("--public-url", default=None, help="base URL browsers use to reach the sandbox")
    parser.add_argument("--webhook-retry-schedule", default=None, help="comma-separated seconds, e.g. 1,5,30")
    parser.add_argument(
        "--state-file", default=None, help="keep payments in this JSON file across restarts (default: memory only)"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")

    settings: dict = {}
    if args.api_keys:
        settings["api_keys"] = args.api_keys
    if args.webhook_url:
        settings["webhook_url"] = args.webhook_url
    if args.webhook_secret:
        settings["webhook_secret"] = args.webhook_secret
    if args.expiry_seconds is not None:
        settings["expiry_seconds"] = args.expiry_seconds
    if args.public_url:
        settings["public_url"] = args.public_url
    if args.webhook_retry_schedule:
        settings["webhook_retry_schedule"] = [float(s) for s in args.webhook_retry_schedule.split(",") if s.strip()]
    if args.state_file:
        settings["state_file"] = args.state_file
    try:
        sandbox = SandboxProvider(**settings)
    except ValueError as exc:
        parser.error(str(exc))
    except SandboxStateError as exc:
        # Already logged; exit non-zero so `penaltypay run` stops instead of running without the payments.
        raise SystemExit(f"sandbox payment provider not started: {exc}") from None
    url = sandbox.start(host=args.host, port=args.port)
    print(f"Sandbox payment provider running at {url} (Ctrl-C stops it)", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stopping.wait()
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
