"""Turns at the provider's rate limit, shared by every process: however callers bunch, the
turns they are given are evenly spaced, never more than the rate in any second; a turn
further off than the wait allowed is refused without moving anyone else's; and with the
shared store away each process still paces itself."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from penaltypay.web import pacing
from penaltypay.web.pacing import TooLong, take_turn
from tests.staff_helpers import in_two_processes_at_once

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 20.0  # turns a second: one every 50 ms


def _take_at_once(callers: int, each: int, max_wait: float) -> tuple[list[float], list[float], float, float]:
    """(start times of the turns taken, retry-afters of those refused, first and last time a
    turn was asked for), from threads at once."""
    starts: list[float] = []
    refused: list[float] = []
    asked: list[float] = []
    gate = threading.Barrier(callers)

    def caller():
        try:
            gate.wait(10)
            for _ in range(each):
                asked.append(time.time())
                try:
                    starts.append(take_turn("test", RATE, max_wait))
                except TooLong as exc:
                    refused.append(exc.retry_after)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(starts), refused, min(asked), max(asked)


def _gaps(starts: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]


def test_turns_taken_at_once_are_spaced_evenly_at_the_rate():
    starts, refused, first_asked, last_asked = _take_at_once(callers=6, each=5, max_wait=10.0)
    assert refused == [] and len(starts) == 30
    assert min(_gaps(starts)) >= 1 / RATE - 1e-6  # never bunched: at most RATE turns in any second
    # None wasted: the schedule runs on from the first turn without a gap, except where a busy
    # machine left nobody asking (a turn nobody asked for is not owed to anyone).
    # (A quarter of a second for a loaded machine's threads between asking and being answered.)
    assert starts[-1] - starts[0] <= 29 / RATE + (last_asked - first_asked) + 0.25


def test_a_turn_too_far_off_is_refused_and_moves_nobody_elses():
    starts, refused, first_asked, last_asked = _take_at_once(callers=5, each=6, max_wait=0.5)
    # Half a second holds the first turn and ten more (one every 50 ms), and more only as far
    # as the callers' asking spread out; the rest are refused, and the turns given stay spaced.
    most = (last_asked - first_asked + 0.5) * RATE + 1
    assert 11 <= len(starts) <= most + 1e-6 and len(refused) == 30 - len(starts)
    assert min(_gaps(starts)) >= 1 / RATE - 1e-6
    assert starts[-1] <= last_asked + 0.5 + 1e-6  # nobody was given a turn further off than allowed
    assert all(0 < wait <= 1.0 for wait in refused)
    # Refusals took no turns: once the wait said passes, a turn is free within the limit.
    time.sleep(max(refused))
    assert take_turn("test", RATE, 0.5) <= time.time() + 0.5


def test_with_the_shared_store_away_each_process_still_paces(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    try:
        starts = [take_turn("test", RATE, 10.0) for _ in range(5)]
    finally:
        pacing.reset_local()
    assert min(_gaps(starts)) >= 1 / RATE - 1e-6  # still one turn every 50 ms, from this process's memory


SIX_TURNS = (
    "from penaltypay.web.pacing import take_turn; "
    "print(' '.join(repr(take_turn('two-processes', 20.0, 10.0)) for _ in range(6)))"
)


def test_two_processes_share_one_schedule():
    results = in_two_processes_at_once(SIX_TURNS)
    starts = sorted(float(t) for done in results for t in done.stdout.split()[-6:])
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 1 / RATE - 1e-6, gaps  # one schedule: the two processes' turns interleave
