"""Rules for delivering money events to ECS: when to call, when to wait, when to stop
and ask a person. Plain Python with an injected clock and randomness, so every
decision is unit-tested with a frozen clock. The worker (ecs/outbox_worker.py)
applies them; it holds no rules of its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import Enum

from penaltypay.ecs import errors
from penaltypay.kernel.clock import LONDON

# ECS's nightly batch window (ICD): it answers SERVICE_UNAVAILABLE or refuses connections.
BATCH_WINDOW_START = time(0, 30)
BATCH_WINDOW_END = time(2, 30)

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 300.0

BREAKER_FAILURE_THRESHOLD = 5
BREAKER_MIN_OPEN_SECONDS = 5.0
BREAKER_MAX_OPEN_SECONDS = 120.0

# ECS may apply a write long after the caller stopped waiting (ICD: "occasionally 30 s or
# no answer at all"). A ledger read sooner than this after a write began can miss a write
# that is still on its way, and writing again would record the money twice.
UNKNOWN_OUTCOME_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class Policy:
    """The tunable numbers behind the rules (settings pass them in; the defaults are production's).
    Short values are for test and benchmark runs, where waiting minutes proves nothing."""

    backoff_base_seconds: float = BACKOFF_BASE_SECONDS
    backoff_cap_seconds: float = BACKOFF_CAP_SECONDS
    breaker_failure_threshold: int = BREAKER_FAILURE_THRESHOLD
    breaker_min_open_seconds: float = BREAKER_MIN_OPEN_SECONDS
    breaker_max_open_seconds: float = BREAKER_MAX_OPEN_SECONDS
    unknown_outcome_settle_seconds: float = UNKNOWN_OUTCOME_SETTLE_SECONDS


DEFAULT_POLICY = Policy()


def ledger_check_not_before(write_started_at: datetime, policy: Policy = DEFAULT_POLICY) -> datetime:
    """The earliest moment the ledger may be read to learn whether a write that began at
    `write_started_at` took effect. Until then the event is not claimable by anyone: not
    by a retry after a timeout, nor by another worker after this one died mid-call."""
    return write_started_at + timedelta(seconds=policy.unknown_outcome_settle_seconds)


def in_batch_window(now: datetime) -> bool:
    local = now.astimezone(LONDON).time()
    return BATCH_WINDOW_START <= local < BATCH_WINDOW_END


def batch_window_end(now: datetime) -> datetime:
    """The end of the window `now` is in (a London wall-clock time, so DST-safe)."""
    local = now.astimezone(LONDON)
    return datetime.combine(local.date(), BATCH_WINDOW_END, tzinfo=LONDON)


def backoff_seconds(
    attempts: int, rng: Callable[[], float] = random.random, *, policy: Policy = DEFAULT_POLICY
) -> float:
    """Exponential back-off with jitter: half the step fixed, half random, so a fleet of
    workers retrying after one outage spreads out instead of stampeding."""
    step = min(policy.backoff_cap_seconds, policy.backoff_base_seconds * (2 ** min(max(0, attempts - 1), 62)))
    return float(step / 2 + rng() * step / 2)


class Outcome(str, Enum):
    RETRY = "retry"  # try again at `retry_at`
    EXCEPTION = "exception"  # stop this event; a person must act


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    retry_at: datetime | None = None
    reason: str = ""
    alert: bool = False  # a defect: page someone, not just a queue item
    check_ledger_first: bool = False  # the last write may have taken effect


# Faults that mean "we hold money ECS will not take for this case": a person refunds it.
_EXCEPTION_REASONS = {
    errors.CaseClosed: "case closed in ECS: the money must be refunded and the keeper told",
    errors.CaseNotFound: "case not found in ECS",
    errors.VrmMismatch: "case found in ECS but its vehicle differs",
    errors.CaseTypeNotSupported: "ECS does not take payments for this case type",
}


def decide_after_error(
    error: errors.EcsError,
    attempts: int,
    now: datetime,
    rng: Callable[[], float] = random.random,
    *,
    batch_window: bool = True,
    policy: Policy = DEFAULT_POLICY,
) -> Decision:
    """What to do with an event whose delivery just failed with `error` (after `attempts` tries).
    `batch_window=False` ignores the nightly window (test and benchmark runs at any hour)."""
    for kind, reason in _EXCEPTION_REASONS.items():
        if isinstance(error, kind):
            return Decision(Outcome.EXCEPTION, reason=reason)
    if isinstance(error, errors.EcsValidationError):
        return Decision(Outcome.EXCEPTION, reason=f"ECS rejected the request as invalid: {error.message}", alert=True)
    if isinstance(error, errors.ServiceUnavailable) and batch_window and in_batch_window(now):
        # Known and expected: wait the window out instead of hammering it.
        return Decision(
            Outcome.RETRY, retry_at=batch_window_end(now) + timedelta(seconds=rng() * 60), reason="ECS batch window"
        )
    if error.retryable:
        return Decision(
            Outcome.RETRY,
            retry_at=now + timedelta(seconds=backoff_seconds(attempts, rng, policy=policy)),
            reason=type(error).__name__,
            check_ledger_first=not error.outcome_known,
            alert=isinstance(error, errors.EcsConfigurationError),
        )
    # An unknown fault code: we cannot tell what happened; a person must look.
    return Decision(
        Outcome.EXCEPTION,
        reason=f"unexpected ECS answer: {error.message}",
        alert=True,
        check_ledger_first=not error.outcome_known,
    )


# --- Circuit breaker -------------------------------------------------------------


class BreakerState(str, Enum):
    CLOSED = "closed"  # calling normally
    OPEN = "open"  # ECS looks dead: no calls until the probe time
    HALF_OPEN = "half_open"  # one probe call is allowed through


@dataclass(frozen=True)
class Breaker:
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    open_until: datetime | None = None
    open_seconds: float = BREAKER_MIN_OPEN_SECONDS


def breaker_counts(error: errors.EcsError) -> bool:
    """Only signs of a sick ECS open the breaker; a business fault is a healthy answer."""
    return isinstance(
        error, (errors.EcsUnreachable, errors.EcsOutcomeUnknown, errors.ServiceUnavailable, errors.EcsInternalError)
    )


def breaker_after_success(breaker: Breaker, *, policy: Policy = DEFAULT_POLICY) -> Breaker:
    return Breaker(open_seconds=policy.breaker_min_open_seconds)


def _open_seconds(seconds: float, policy: Policy) -> float:
    return max(policy.breaker_min_open_seconds, min(policy.breaker_max_open_seconds, seconds))


def breaker_after_failure(breaker: Breaker, now: datetime, *, policy: Policy = DEFAULT_POLICY) -> Breaker:
    failures = breaker.consecutive_failures + 1
    if breaker.state is BreakerState.HALF_OPEN:
        # The probe failed: stay open, and wait longer before the next one.
        seconds = _open_seconds(breaker.open_seconds * 2, policy)
        return Breaker(BreakerState.OPEN, failures, now + timedelta(seconds=seconds), seconds)
    if failures >= policy.breaker_failure_threshold:
        seconds = _open_seconds(breaker.open_seconds, policy)
        return Breaker(BreakerState.OPEN, failures, now + timedelta(seconds=seconds), seconds)
    return replace(breaker, consecutive_failures=failures)


def breaker_permits(breaker: Breaker, now: datetime) -> tuple[bool, Breaker]:
    """(may this caller call ECS now?, the breaker after the decision).
    When the open period ends, exactly one caller gets the probe (the caller must
    store the returned breaker with a compare-and-set so only one wins)."""
    if breaker.state is BreakerState.CLOSED:
        return True, breaker
    if breaker.state is BreakerState.OPEN and breaker.open_until is not None and now >= breaker.open_until:
        return True, replace(
            breaker, state=BreakerState.HALF_OPEN, open_until=now + timedelta(seconds=breaker.open_seconds)
        )
    if breaker.state is BreakerState.HALF_OPEN and breaker.open_until is not None and now >= breaker.open_until:
        # The probe never reported back (its worker died): let another probe through.
        return True, replace(breaker, open_until=now + timedelta(seconds=breaker.open_seconds))
    return False, breaker
