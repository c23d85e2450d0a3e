"""Periodic jobs, each declared by the app that owns its work (that app's `jobs` module,
imported by its AppConfig.ready) and run by the worker, each under its own lease
(penaltypay.operations.jobs): no job waits on another, and a worker that does not hold one
job's lease still runs the others when their turn comes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

Due = Callable[[datetime, "datetime | None"], bool]  # (now, when the job last succeeded) -> run now?


def every_pass(now: datetime, last_success: datetime | None) -> bool:
    return True


@dataclass(frozen=True)
class PeriodicJob:
    name: str  # also its lease's name
    what: str  # one line, for `penaltypay worker --help`, the README and the architecture doc
    cadence: str  # when it runs, in words (a setting's name where one decides it)
    run: Callable[[datetime], object]  # its report, for the log and the tests
    due: Due = every_pass
    lease: timedelta = timedelta(minutes=10)
    owner: str = ""  # the module that declared it


_JOBS: dict[str, PeriodicJob] = {}


def periodic(
    name: str, *, what: str, cadence: str, due: Due = every_pass, lease: timedelta = timedelta(minutes=10)
) -> Callable[[Callable[[datetime], object]], Callable[[datetime], object]]:
    """Declares the decorated function `run(now)` as a periodic job."""

    def declare(run: Callable[[datetime], object]) -> Callable[[datetime], object]:
        if name in _JOBS and _JOBS[name].run.__qualname__ != run.__qualname__:
            raise ValueError(f"two periodic jobs named {name!r}")
        _JOBS[name] = PeriodicJob(name, what, cadence, run, due, lease, owner=run.__module__)
        return run

    return declare


def periodic_jobs() -> list[PeriodicJob]:
    """Every declared job, in the order the apps declared them (INSTALLED_APPS)."""
    return list(_JOBS.values())


def periodic_job(name: str) -> PeriodicJob:
    return _JOBS[name]
