"""Keep a set of child processes running: the local all-in-one `penaltypay run`.

A child that dies is started again after a back-off (1 s, doubling to 30 s; reset once
it has stayed up for a minute), with a log line; the others keep serving meanwhile.
Stopping (Ctrl-C, SIGTERM) stops them all, the last started first.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("penaltypay.run")

FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A child that stayed up this long is healthy again: its next crash restarts it promptly.
HEALTHY_AFTER_SECONDS = 60.0


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = FIRST_BACKOFF_SECONDS
    restart_at: float | None = None  # when a dead child is due to start again
    history: list[int] = field(default_factory=list)  # exit codes seen


class Supervisor:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, popen: Callable[..., subprocess.Popen] = subprocess.Popen
    ):
        self.children: list[Child] = []
        self._clock = clock
        self._popen = popen

    def add(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, list(argv), env)
        self.children.append(child)
        self._start(child)
        return child

    def _start(self, child: Child) -> None:
        child.process = self._popen(list(child.argv), env=child.env)
        child.started_at = self._clock()
        child.restart_at = None

    def check(self) -> None:
        """One look at every child: schedule a restart for the dead, make the due restarts."""
        now = self._clock()
        for child in self.children:
            process = child.process
            if child.restart_at is None and process is not None and process.poll() is not None:
                if now - child.started_at >= HEALTHY_AFTER_SECONDS:
                    child.backoff = FIRST_BACKOFF_SECONDS
                child.history.append(process.returncode)
                child.restart_at = now + child.backoff
                log.warning(
                    "child exited; restarting it",
                    extra={"child": child.name, "exit_code": process.returncode, "restart_in_seconds": child.backoff},
                )
                child.backoff = min(MAX_BACKOFF_SECONDS, child.backoff * 2)
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._start(child)
                log.info("child restarted", extra={"child": child.name, "restarts": child.restarts})

    def stop_all(self, timeout: float = 10.0) -> None:
        for child in reversed(self.children):
            if child.process is not None and child.process.poll() is None:
                child.process.terminate()
        deadline = self._clock() + timeout
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(timeout=5)
