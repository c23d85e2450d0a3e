"""Fixed-window rate limits for penalty look-ups, kept in the cache (Redis in production).

Two limits: per client address (all look-ups) and per penalty reference (failed
look-ups), so neither one address nor many addresses can walk registrations
against a reference.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Limited:
    retry_after_seconds: int

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after_seconds / 60))


def _window() -> tuple[int, int]:
    size = settings.LOOKUP_RATE_LIMIT_WINDOW_SECONDS
    now = int(time.time())
    start = now - now % size
    return start, start + size - now


def _key(kind: str, value: str, start: int) -> str:
    return f"ratelimit:lookup:{kind}:{value}:{start}"


def _count(kind: str, value: str) -> int:
    start, _ = _window()
    return int(cache.get(_key(kind, value, start), 0))


def _hit(kind: str, value: str) -> None:
    start, remaining = _window()
    key = _key(kind, value, start)
    if not cache.add(key, 1, timeout=remaining + 5):
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=remaining + 5)


def check_lookup_allowed(address: str, reference: str) -> Limited | None:
    """None when the look-up may go ahead; else how long until it may."""
    _, remaining = _window()
    if _count("address", address) >= settings.LOOKUP_RATE_LIMIT_PER_ADDRESS:
        return Limited(remaining)
    if reference and _count("reference", reference) >= settings.LOOKUP_RATE_LIMIT_PER_REFERENCE:
        return Limited(remaining)
    return None


def record_lookup(address: str, reference: str, *, found: bool) -> None:
    _hit("address", address)
    if reference and not found:
        _hit("reference", reference)


def client_address(request) -> str:
    """The caller's address; behind N trusted proxies, the Nth address from the right
    of X-Forwarded-For (what the outermost trusted proxy saw)."""
    trusted = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    if trusted <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if len(forwarded) >= trusted:
        return forwarded[-trusted]
    return remote
