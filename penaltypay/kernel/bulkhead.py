"""A bulkhead: at most N calls to one dependency at once in this process, and no queue
worth the name.

When every place is taken, a caller waits a short, bounded time for one, but only while
the dependency looks healthy. When the last call to finish took `stuck_after` or longer
(it timed out), or every call in flight has been running that long, the dependency is
hanging: the caller is told at once (`try_enter` gives False) and decides what to do
instead (serve what it holds, or say "busy, try again in a minute"). So an ordinary burst
(a few hundred milliseconds of latency, a busy web tier) turns nobody away, and a hung
dependency still holds no thread that other requests need. docs/adr/0010, 0021.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Bulkhead:
    def __init__(
        self,
        name: str,
        size: Callable[[], int],
        *,
        wait: Callable[[], float] = lambda: 0.0,
        stuck_after: Callable[[], float] = lambda: float("inf"),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.name = name
        self._size = size  # read on use, so settings can say it
        self._wait = wait
        self._stuck_after = stuck_after
        self._clock = clock
        self._room = threading.Condition()
        self._started: dict[int, float] = {}  # ticket -> when its call began
        self._tickets = 0
        self.refused = 0  # calls turned away since the process started
        self.waited = 0  # calls that found it full and waited for a place
        self._last_took = 0.0  # how long the last call to finish ran

    @property
    def capacity(self) -> int:
        return max(1, int(self._size()))

    def _hanging(self, now: float) -> bool:
        """The dependency is not answering: the last call to finish took `stuck_after` or
        longer (it timed out, most likely), or every call in flight has run that long."""
        stuck = self._stuck_after()
        if self._last_took >= stuck:
            return True
        return bool(self._started) and now - max(self._started.values()) >= stuck

    @contextmanager
    def try_enter(self) -> Iterator[bool]:
        """`with bulkhead.try_enter() as entered:` — entered is False when it stays full."""
        ticket = None
        with self._room:
            now = self._clock()
            deadline = now + self._wait()
            if len(self._started) >= self.capacity and not self._hanging(now):
                self.waited += 1
                while len(self._started) >= self.capacity and not self._hanging(now) and now < deadline:
                    self._room.wait(deadline - now)
                    now = self._clock()
            if len(self._started) < self.capacity:
                self._tickets += 1
                ticket = self._tickets
                self._started[ticket] = now
            else:
                self.refused += 1
        try:
            yield ticket is not None
        finally:
            if ticket is not None:
                with self._room:
                    self._last_took = self._clock() - self._started.pop(ticket)
                    # A hung dependency: wake every waiter to be refused now. Otherwise one place.
                    if self._last_took >= self._stuck_after():
                        self._room.notify_all()
                    else:
                        self._room.notify()
