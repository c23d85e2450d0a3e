"""A bulkhead: at most N calls to one dependency at once in this process, and no queue.

When every place is taken the caller is told at once (`try_enter` is False) and decides
what to do instead — serve what it holds, or say "busy, try again in a minute" — rather
than wait: a slow dependency must hold no thread that other requests need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Bulkhead:
    def __init__(self, name: str, size: Callable[[], int]):
        self.name = name
        self._size = size  # read on first use, so settings can say it
        self._lock = threading.Lock()
        self._in_use = 0
        self.refused = 0  # calls turned away since the process started

    @property
    def capacity(self) -> int:
        return max(1, int(self._size()))

    @property
    def in_use(self) -> int:
        return self._in_use

    @contextmanager
    def try_enter(self) -> Iterator[bool]:
        """`with bulkhead.try_enter() as entered:` — entered is False when it is full."""
        with self._lock:
            entered = self._in_use < self.capacity
            if entered:
                self._in_use += 1
            else:
                self.refused += 1
        try:
            yield entered
        finally:
            if entered:
                with self._lock:
                    self._in_use -= 1
