"""Card testing stopped: someone trying card after card against one penalty, from one
address, or read to one agent on the phone. Declined card payments are counted atomically
in the shared store (as the look-up limits are) per penalty, per address (online) and per
agent (phone), over a sliding 15 minutes: the current window's count plus the previous
window's, weighted by how much of it the 15 minutes still cover, so that a burst across a
window's edge counts as one burst (fixed windows let about twice the limit through there).
At the limit, payment for that penalty (online and by phone), from that address or by that
agent pauses for an hour. The keeper is told how to pay by phone; staff see a penalty's
pause on the case and may lift it."""

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
    scope: str  # "penalty", "address" or "agent"
    until: datetime


def _pause_key(scope: str, subject: str) -> str:
    return f"card-testing:pause:{scope}:{subject}"


def declines_in_last_window(counter: str, *, adding: int = 0, now: float | None = None) -> float:
    """The declines counted under `counter` in the sliding 15 minutes up to `now` (after
    adding `adding` to the current window): the current fixed window's count, and the
    previous one's weighted by the part of it the 15 minutes still cover."""
    now = time.time() if now is None else now
    window, into = divmod(now, WINDOW_SECONDS)
    keep = 2 * WINDOW_SECONDS + 5  # the previous window is read for one window more
    current = ratelimits.count(f"card-testing:{counter}:{int(window)}", keep, by=adding)
    previous = ratelimits.count(f"card-testing:{counter}:{int(window) - 1}", keep, by=0)
    return current + previous * (1 - into / WINDOW_SECONDS)


def _count(scope: str, subject: str, limit: int) -> None:
    declines = declines_in_last_window(f"{scope}:{subject}", adding=1)
    if declines >= limit and ratelimits.marked(_pause_key(scope, subject)) is None:
        _pause(scope, subject, declines=round(declines, 1))


def note_declines(case_references: list[str], address_hash: str, *, agent: str = "") -> None:
    """One declined card payment for these penalties (one, or a basket's): each penalty counts
    it, and the address (online) or the agent (phone) once."""
    for case_reference in case_references:
        _count("penalty", case_reference, settings.CARD_TESTING_DECLINES_PER_PENALTY)
    if address_hash:
        _count("address", address_hash, settings.CARD_TESTING_DECLINES_PER_ADDRESS)
    if agent:
        _count("agent", agent, settings.CARD_TESTING_DECLINES_PER_AGENT)


def _pause(scope: str, subject: str, *, declines: float) -> None:
    until = time.time() + settings.CARD_TESTING_PAUSE_SECONDS
    ratelimits.mark(_pause_key(scope, subject), until, settings.CARD_TESTING_PAUSE_SECONDS)
    if scope == "penalty":
        security_event(CARD_TESTING_PAUSED, scope=scope, declines=declines, case_reference=subject)
    elif scope == "agent":
        security_event(CARD_TESTING_PAUSED, scope=scope, declines=declines, staff_username=subject)
    else:
        security_event(CARD_TESTING_PAUSED, scope=scope, declines=declines, address_hash=subject)


def paused(case_reference: str, address_hash: str = "", *, agent: str = "") -> Pause | None:
    for scope, subject in (("penalty", case_reference), ("address", address_hash), ("agent", agent)):
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
    window = int(time.time()) // WINDOW_SECONDS
    for counted in (window, window - 1):  # its declines start again from nothing
        ratelimits.unmark(f"card-testing:penalty:{case_reference}:{counted}")
    return was
