"""Turns at a shared rate: every web process, worker and pod takes its turn to call the
payment provider from one schedule, so bursts above the provider's published limit wait
their turn instead of collecting 429s (ADR 0027).

The schedule is one number in the shared store — the time of the next free turn — moved
on atomically (the generic cell rate algorithm): a caller's turn is `max(next, now)` and
the next free one is `1/rate` seconds after it. Turns are spaced evenly, so no one second
ever holds more than `rate` of them, however the callers bunch. A caller whose turn would
come more than `max_wait` seconds on takes none (the schedule is not moved) and is told
when to try again. Redis in production (a Lua script: one round trip), the service's own
database without Redis (one statement); this process's memory for a short while when the
store is away, as the rate limits do (ADR 0017) — then each process paces on its own and
the provider's 429s, retried briefly, are the backstop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.core.cache import cache

log = logging.getLogger(__name__)

FALLBACK_SECONDS = 10.0  # after the store fails, turns are kept in memory this long

_REDIS_TURN = """
local now, step, max_wait, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local turn = math.max(free, now)
if turn - now > max_wait then return {0, tostring(free)} end
redis.call('SET', KEYS[1], tostring(turn + step), 'PX', ttl)
return {1, tostring(turn + step)}
"""


@dataclass(frozen=True)
class TooLong(Exception):
    """No turn within the wait allowed; a turn is free again in `retry_after` seconds."""

    retry_after: float


def _next_free(key: str, now: float, step: float, max_wait: float) -> tuple[bool, float]:
    """(taken, next free turn): the schedule moved on in the shared store when this caller
    takes a turn; as it stands when its turn would come too late."""
    ttl = max_wait + step + 60.0
    taker = getattr(cache, "take_turn", None)  # the database store (penaltypay.web.shared_counts)
    if taker is not None:
        taken, free = taker(key, now, step, max_wait, ttl)
        return bool(taken), float(free)
    name = cache.make_and_validate_key(key)
    client = cache._cache.get_client(name, write=True)  # type: ignore[attr-defined]  # Django's Redis cache
    taken, free = client.eval(_REDIS_TURN, 1, name, now, step, max_wait, int(ttl * 1000))
    return bool(taken), float(free)


class _Local:
    """This process's own schedule while the shared store is away."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.free: dict[str, float] = {}
        self.until = 0.0

    def next_free(self, key: str, now: float, step: float, max_wait: float) -> tuple[bool, float]:
        with self.lock:
            free = self.free.get(key, 0.0)
            turn = max(free, now)
            if turn - now > max_wait:
                return False, free
            self.free[key] = turn + step
            return True, turn + step

    def reset(self) -> None:
        with self.lock:
            self.free.clear()
            self.until = 0.0


_local = _Local()


def take_turn(name: str, per_second: float, max_wait: float) -> float:
    """When this caller's turn comes (epoch seconds: now, or a little later); raises TooLong
    when it would come more than `max_wait` seconds on. The caller waits for it itself."""
    step = 1.0 / per_second
    key = f"turns:{name}"
    now = time.time()
    answer = None
    if time.monotonic() >= _local.until:
        try:
            answer = _next_free(key, now, step, max_wait)
        except Exception as error:  # the store is down, slow or full: pace in this process
            _local.until = time.monotonic() + FALLBACK_SECONDS
            log.warning("shared pacing store unavailable; pacing here", extra={"error": type(error).__name__})
            now = time.time()  # the failed call took a while
    taken, free = answer if answer is not None else _local.next_free(key, now, step, max_wait)
    if not taken:
        raise TooLong(retry_after=max(step, free - now - max_wait))
    return free - step


def reset_local() -> None:
    """Tests: forget this process's own schedule and trust the shared store again."""
    _local.reset()
