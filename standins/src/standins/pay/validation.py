"""Checking the sandbox's settings and the body of a create-payment request."""

from __future__ import annotations

import logging
import math
import re
from urllib.parse import urlsplit

from standins.pay.model import (
    DEFAULT_API_KEY,
    DEFAULT_WEBHOOK_SECRET,
    MAX_AMOUNT,
    ApiError,
)

log = logging.getLogger("standins.pay")


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
CONFIG_SPEC = {
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
    "refund_delay": (0.0, _check_number),  # seconds before a refund's answer (it is made at once)
    "search_delay": (0.0, _check_number),
    "rate_limit_per_second": (15, _check_count),  # 0 switches the limit off
    "public_url": (None, _check_optional_url),
    # Settlement: the fee on each captured payment (basis points: 10 = 0.1%, plus pence), the
    # dispute fee, and how many days after taking money it settles and the payout arrives.
    "fee_basis_points": (10, _check_count),
    "fee_fixed_pence": (10, _check_count),
    "dispute_fee_pence": (2000, _check_count),
    "settle_after_days": (0, _check_count),
    "payout_delay_days": (0, _check_count),
    # A disputed test card's dispute opens this long after the payment, and is decided this
    # long after opening (under review half way).
    "dispute_open_seconds": (30.0, _check_number),
    "dispute_decide_seconds": (60.0, _check_number),
    # return_url may be plain http only on these hosts ("*" allows any). "testserver"
    # is the host Django's test client puts in absolute URLs.
    "http_return_url_hosts": (["localhost", "127.0.0.1", "::1", "testserver"], _check_strings),
}


def validated_config(changes: dict) -> dict:
    unknown = sorted(set(changes) - set(CONFIG_SPEC))
    if unknown:
        raise ValueError(f"unknown sandbox setting(s): {', '.join(unknown)}")
    return {name: CONFIG_SPEC[name][1](name, value) for name, value in changes.items()}


# --- create validation -----------------------------------------------------

_FORBIDDEN_IN_TEXT = re.compile(r"[<>|]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _missing(name: str) -> ApiError:
    return ApiError(400, "P0101", f"Missing mandatory attribute: {name}", name)


def _wrong_type(name: str, what: str) -> ApiError:
    return ApiError(400, "P0102", f"Invalid attribute value: {name}. {what}", name)


def _bad_value(name: str, what: str) -> ApiError:
    return ApiError(422, "P0102", f"Invalid attribute value: {name}. {what}", name)


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
        raise ApiError(400, "P0197", "Unable to parse JSON: the body must be a JSON object")
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
        raise _bad_value("language", 'Must be "en" or "cy"')
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
