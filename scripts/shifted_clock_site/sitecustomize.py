"""Loaded only under scripts/shifted-clock. libfaketime 0.9.10 (Debian 12) shifts the
deadline of clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), which Python's time.sleep
uses, by the wall-clock offset, so every sleep fails with EINVAL. A relative wait in
select() is not touched by it; Python retries it after a signal with the time left."""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
