"""Rate limits shared by the keepers' pages and the API, counted atomically before the work is done.

Two fixed-window limits, in the cache (Redis in production: every process shares them,
and production refuses to start without it):

- per client address, every look-up (IPv6 addresses count per /64: one household or
  one attacker usually holds a whole /64);
- per penalty reference, failed look-ups — so that neither one address nor many can
  walk registrations against a reference.

An attempt is counted (cache INCR) *before* ECS is asked, so sixty simultaneous
requests cannot all pass a check made before any of them was recorded; a reference's
count is given back when the look-up finds the case. A service-wide count of failed
look-ups per minute raises a `lookup_failure_surge` security event (and metric) when it
passes `LOOKUP_FAILURE_ALERT_PER_MINUTE`: a botnet walking references shows up even when
each address stays under its limit.

When the shared store is away or slow (Redis stopped, a failover), the counts fall back to
this process's own memory for a short while — the same limits, per process — rather than
turning keepers away with an error: a `rate_limit_store_unavailable` security event says
so (docs/adr/0017). An attacker gains at most a factor of the process count while it lasts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from penaltypay.kernel.security_events import (
    LOOKUP_FAILURE_SURGE,
    LOOKUP_NOT_FOUND,
    LOOKUP_RATE_LIMITED,
    RATE_LIMIT_STORE_UNAVAILABLE,
    security_event,
)

log = logging.getLogger(__name__)
# After the shared store fails, counts stay local this long before it is tried again (so a
# store that is away costs one failed call per process per period, not one per request).
FALLBACK_SECONDS = 10.0


@dataclass(frozen=True)
class Limited:
    retry_after_seconds: int
    limit: str  # "address" or "reference"

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_seconds / 60))


@dataclass(frozen=True)
class Reservation:
    """A look-up allowed to go ahead, already counted."""

    address: str
    reference: str
    reference_key: str


def _window() -> tuple[int, int]:
    size = settings.LOOKUP_RATE_LIMIT_WINDOW_SECONDS
    now = int(time.time())
    start = now - now % size
    return start, start + size - now


def _add_and_count(store: BaseCache, key: str, timeout: int, by: int) -> int:
    """Atomic add-then-count: Redis INCR; the local-memory cache does it under its lock; the
    database store (no Redis) in one statement."""
    in_one_statement = getattr(store, "add_and_count", None)
    if in_one_statement is not None:
        return int(in_one_statement(key, timeout, by))
    for _ in range(3):
        store.add(key, 0, timeout=timeout)
        try:
            return int(store.incr(key, by))
        except ValueError:  # expired between add and incr: start the window's count again
            continue
    raise RuntimeError(f"could not count {key}")


class _Counter:
    """The shared store, or this process's memory while the shared one is unavailable."""

    def __init__(self) -> None:
        self.local = LocMemCache("penaltypay-ratelimit-fallback", {"MAX_ENTRIES": 100_000})
        self._lock = threading.Lock()
        self._local_until = 0.0

    def count(self, key: str, timeout: int, by: int = 1) -> int:
        if time.monotonic() >= self._local_until:
            try:
                return _add_and_count(cache, key, timeout, by)
            except Exception as error:  # any failure of the store (down, slow, full): count locally
                self._store_failed(error)
        return _add_and_count(self.local, key, timeout, by)

    def call(self, operation: str, *args: object) -> object:
        """cache.get/set/delete on the shared store, or this process's memory while it is away."""
        if time.monotonic() >= self._local_until:
            try:
                return getattr(cache, operation)(*args)
            except Exception as error:  # the store is away or slow: use this process's memory
                self._store_failed(error)
        return getattr(self.local, operation)(*args)

    def _store_failed(self, error: Exception) -> None:
        with self._lock:
            first = time.monotonic() >= self._local_until
            self._local_until = time.monotonic() + FALLBACK_SECONDS
        if first:
            security_event(RATE_LIMIT_STORE_UNAVAILABLE, error=type(error).__name__, fallback_seconds=FALLBACK_SECONDS)


_counter = _Counter()


def count(key: str, timeout: int, by: int = 1) -> int:
    """Add `by` to the count under `key` (created with `timeout`) and return the new count."""
    return _counter.count(key, timeout, by)


def address_hash(address: str) -> str:
    """A keyed hash of a client address for logs and events (an address is personal data)."""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:16]


def reserve_lookup(address: str, reference: str) -> Reservation | Limited:
    start, remaining = _window()
    timeout = remaining + 5
    if (
        count(f"ratelimit:lookup:address:{address_hash(address)}:{start}", timeout)
        > settings.LOOKUP_RATE_LIMIT_PER_ADDRESS
    ):
        return _limited(address, reference, remaining, "address")
    reference_key = f"ratelimit:lookup:reference:{reference}:{start}"
    if count(reference_key, timeout) > settings.LOOKUP_RATE_LIMIT_PER_REFERENCE:
        count(reference_key, timeout, by=-1)  # refused before asking ECS: not a failed look-up
        return _limited(address, reference, remaining, "reference")
    return Reservation(address, reference, reference_key)


def reserve_reference(caller: str, reference: str) -> Reservation | Limited:
    """The per-reference limit for a machine client (it has its own rate limit instead of
    a per-address one), counted for that client alone: a client's failed look-ups never
    use up the keepers' allowance for a reference (nor another client's). `caller` names
    it in the keys and the security events."""
    start, remaining = _window()
    reference_key = f"ratelimit:lookup:reference:{caller}:{reference}:{start}"
    if count(reference_key, remaining + 5) > settings.LOOKUP_RATE_LIMIT_PER_REFERENCE:
        count(reference_key, remaining + 5, by=-1)
        return _limited(caller, reference, remaining, "reference")
    return Reservation(caller, reference, reference_key)


def _limited(address: str, reference: str, remaining: int, limit: str) -> Limited:
    security_event(LOOKUP_RATE_LIMITED, limit=limit, address_hash=address_hash(address), case_reference=reference)
    return Limited(remaining, limit)


def record_outcome(reservation: Reservation, *, found: bool, not_found: bool) -> None:
    """`found`: the case and vehicle matched. `not_found`: no such reference or the wrong
    vehicle (anything else, such as ECS being away, neither gives the count back nor
    counts as someone guessing)."""
    if found:
        # The keeper had the right vehicle: this look-up does not count against the reference.
        _, remaining = _window()
        count(reservation.reference_key, remaining + 5, by=-1)
        return
    if not not_found:
        return
    security_event(
        LOOKUP_NOT_FOUND, address_hash=address_hash(reservation.address), case_reference=reservation.reference
    )
    minute = int(time.time()) // 60
    failures = count(f"ratelimit:lookup:failures:{minute}", 120)
    ceiling = settings.LOOKUP_FAILURE_ALERT_PER_MINUTE
    if failures == ceiling + 1:  # once a minute, when the ceiling is passed
        security_event(LOOKUP_FAILURE_SURGE, failures_this_minute=failures, ceiling_per_minute=ceiling)


FEEDBACK_PER_HOUR = 10


def allow_feedback(address: str) -> bool:
    """At most FEEDBACK_PER_HOUR feedback forms an hour from one address (IPv6 per /64),
    counted atomically like the look-ups."""
    hour = int(time.time()) // 3600
    return count(f"ratelimit:feedback:{address_hash(address)}:{hour}", timeout=3600) <= FEEDBACK_PER_HOUR


SIGN_IN_WINDOW_SECONDS = 15 * 60


def _sign_in_key(address: str) -> str:
    window = int(time.time()) // SIGN_IN_WINDOW_SECONDS
    return f"ratelimit:staff-sign-in:{address_hash(address)}:{window}"


def note_sign_in_failure(address: str) -> int:
    """A failed staff sign-in (any username) from this address, counted atomically."""
    return count(_sign_in_key(address), SIGN_IN_WINDOW_SECONDS + 5)


def sign_in_failures(address: str) -> int:
    """This address's failed staff sign-ins in the current 15 minutes."""
    return count(_sign_in_key(address), SIGN_IN_WINDOW_SECONDS + 5, by=0)


def mark(key: str, value: float, seconds: int) -> None:
    """Remember `value` under `key` for `seconds` (a pause, say), shared like the counts."""
    _counter.call("set", key, value, seconds)


def marked(key: str) -> float | None:
    value = _counter.call("get", key)
    return float(value) if isinstance(value, int | float) else None


def unmark(key: str) -> None:
    _counter.call("delete", key)
