"""Security events: one logger (`penaltypay.security`), one shape.

Every event is a log line whose message and `security_event` field are the event's
name, with identifiers only (references, hashed addresses, counts) — never a vehicle
registration, an email or a card detail. The operations app counts them per name for
`/metrics` (a logging handler), so emitting one is all any layer has to do. The names
and their fields are listed in docs/security-events.md.
"""

from __future__ import annotations

import logging

log = logging.getLogger("penaltypay.security")

LOOKUP_NOT_FOUND = "lookup_not_found"
LOOKUP_RATE_LIMITED = "lookup_rate_limited"
LOOKUP_FAILURE_SURGE = "lookup_failure_surge"
WEBHOOK_SIGNATURE_INVALID = "webhook_signature_invalid"
OPERATOR_TOKEN_REFUSED = "operator_token_refused"  # noqa: S105 - an event name
OUTBOX_EXCEPTION_HANDLED = "outbox_exception_handled"
PAYMENT_PAGE_OTHER_SESSION = "payment_page_other_session"
CARD_PAGE_REFUSED = "card_page_refused"
RATE_LIMIT_STORE_UNAVAILABLE = "rate_limit_store_unavailable"
CARD_TESTING_PAUSED = "card_testing_paused"
BREAK_GLASS = "break_glass"

EVENTS = (
    LOOKUP_NOT_FOUND,
    LOOKUP_RATE_LIMITED,
    LOOKUP_FAILURE_SURGE,
    WEBHOOK_SIGNATURE_INVALID,
    OPERATOR_TOKEN_REFUSED,
    OUTBOX_EXCEPTION_HANDLED,
    PAYMENT_PAGE_OTHER_SESSION,
    CARD_PAGE_REFUSED,
    RATE_LIMIT_STORE_UNAVAILABLE,
    CARD_TESTING_PAUSED,
    BREAK_GLASS,
)


def security_event(name: str, *, level: int = logging.WARNING, **fields: object) -> None:
    if name not in EVENTS:
        raise ValueError(f"unknown security event {name!r}")
    log.log(level, name, extra={"security_event": name, **fields})
