"""Many threads sharing one queue, without all of them asking the database while it is empty.

While nothing is waiting, one thread (the look-out) looks every `idle_seconds`; the rest
sleep. Each thread that finds work wakes one sleeper, which looks too: a backlog spreads
over the threads one claim at a time (1, 2, 4, ...), and an empty queue costs one query per
`idle_seconds` instead of one per thread. A sleeper also looks on its own after
`sleep_at_most`, so nothing depends on a wake-up arriving.

Measured: sixteen outbox threads polling every half second kept about a tenth of a core
busy per worker with nothing to deliver (bench/README.md, docs/adr/0021).
"""

from __future__ import annotations

import threading
import time


class IdleGate:
    def __init__(self, idle_seconds: float, sleep_at_most: float = 5.0):
        self.idle_seconds = idle_seconds
        self.sleep_at_most = sleep_at_most
        self._condition = threading.Condition()
        self._look_out_taken = False

    def found_work(self) -> None:
        """Call after a thread found something to do: one sleeper wakes to look as well."""
        with self._condition:
            self._condition.notify(1)

    def nothing_found(self, stop: threading.Event) -> None:
        """Call after a thread found nothing; returns when it should look again (or `stop`)."""
        with self._condition:
            look_out = not self._look_out_taken
            if look_out:
                self._look_out_taken = True
        if look_out:
            try:
                stop.wait(self.idle_seconds)
            finally:
                with self._condition:
                    self._look_out_taken = False
            return
        deadline = time.monotonic() + self.sleep_at_most
        with self._condition:
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                # Wake each second at most to notice `stop` (it is an Event, not this condition).
                if self._condition.wait(timeout=min(1.0, remaining)):
                    return
