"""Card testing stopped: someone trying card after card against one penalty, or from one
address. Declined card payments are counted atomically in the shared cache (as the
look-up limits are) per penalty and per address in 15-minute windows; at the limit,
online payment for that penalty (or from that address) pauses for an hour. The keeper is
told how to pay by phone; staff see the pause on the case and may lift it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings

from penaltypay import ratelimits
from penaltypay.kernel.security_events import CARD_TESTING_PAUSED, security_event

WINDOW_SECONDS = 15 * 60
DECLINED = "P0010"  # the provider's code for a refused card (declines and failed 3-D Secure)


@dataclass(frozen=True)
class Pause:
    scope: str  # "penalty" or "address"
    until: datetime


def _window() -> int:
    return int(time.time()) // WINDOW_SECONDS


def _pause_key(scope: str, subject: str) -> str:
    return f"card-testing:pause:{scope}:{subject}"


def note_decline(case_reference: str, address_hash: str) -> None:
    """One declined card payment; pauses at the limits (once each, with a security event)."""
    note_declines([case_reference], address_hash)


def note_declines(case_references: list[str], address_hash: str) -> None:
    """One declined card payment for these penalties (one, or a basket's): each penalty counts
    it, and the address once."""
    window = _window()
    for case_reference in case_references:
        per_case = ratelimits.count(f"card-testing:case:{case_reference}:{window}", WINDOW_SECONDS + 5)
        if per_case == settings.CARD_TESTING_DECLINES_PER_PENALTY:
            _pause("penalty", case_reference, declines=per_case)
    if address_hash:
        per_address = ratelimits.count(f"card-testing:address:{address_hash}:{window}", WINDOW_SECONDS + 5)
        if per_address == settings.CARD_TESTING_DECLINES_PER_ADDRESS:
            _pause("address", address_hash, declines=per_address)


def _pause(scope: str, subject: str, *, declines: int) -> None:
    until = time.time() + settings.CARD_TESTING_PAUSE_SECONDS
    ratelimits.mark(_pause_key(scope, subject), until, settings.CARD_TESTING_PAUSE_SECONDS)
    if scope == "penalty":
        security_event(CARD_TESTING_PAUSED, scope=scope, declines=declines, case_reference=subject)
    else:
        security_event(CARD_TESTING_PAUSED, scope=scope, declines=declines, address_hash=subject)


def paused(case_reference: str, address_hash: str = "") -> Pause | None:
    for scope, subject in (("penalty", case_reference), ("address", address_hash)):
        if not subject:
            continue
        until = ratelimits.marked(_pause_key(scope, subject))
        if until is not None and until > time.time():
            return Pause(scope, datetime.fromtimestamp(until, UTC))
    return None


def lift(case_reference: str) -> bool:
    """Staff lift a penalty's pause (the keeper checked out by phone, say). True if one was on."""
    was = paused(case_reference) is not None
    ratelimits.unmark(_pause_key("penalty", case_reference))
    ratelimits.unmark(f"card-testing:case:{case_reference}:{_window()}")
    return was
