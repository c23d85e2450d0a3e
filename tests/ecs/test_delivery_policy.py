"""The tunable numbers behind the delivery rules (delivery.Policy): defaults are production's."""

from __future__ import annotations

from datetime import datetime, timedelta

from penaltypay.ecs import delivery, errors
from penaltypay.ecs.delivery import Breaker, BreakerState, Policy
from penaltypay.kernel.clock import LONDON

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=LONDON)
FAST = Policy(
    backoff_base_seconds=0.2,
    backoff_cap_seconds=2.0,
    breaker_failure_threshold=3,
    breaker_min_open_seconds=0.5,
    breaker_max_open_seconds=2.0,
    unknown_outcome_settle_seconds=3.0,
)


def always_max():
    return 1.0


def test_the_default_policy_is_the_documented_production_one():
    assert delivery.DEFAULT_POLICY == Policy(2.0, 300.0, 5, 5.0, 120.0, 60.0)
    assert [delivery.backoff_seconds(n, always_max) for n in (1, 2, 3)] == [2, 4, 8]


def test_backoff_follows_the_policy():
    assert [delivery.backoff_seconds(n, always_max, policy=FAST) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.6, 2, 2]
    decision = delivery.decide_after_error(errors.EcsOutcomeUnknown("t"), 1, NOON, always_max, policy=FAST)
    assert decision.retry_at == NOON + timedelta(seconds=0.2)


def test_backoff_survives_absurd_attempt_counts():
    assert delivery.backoff_seconds(10_000, always_max) == delivery.BACKOFF_CAP_SECONDS


def test_breaker_follows_the_policy():
    b = Breaker(open_seconds=FAST.breaker_min_open_seconds)
    for _ in range(FAST.breaker_failure_threshold):
        b = delivery.breaker_after_failure(b, NOON, policy=FAST)
    assert b.state is BreakerState.OPEN and b.open_until == NOON + timedelta(seconds=0.5)
    probing = delivery.breaker_permits(b, b.open_until)[1]
    for expected in (1.0, 2.0, 2.0):
        b = delivery.breaker_after_failure(probing, NOON, policy=FAST)
        assert b.open_seconds == expected
        probing = delivery.breaker_permits(b, b.open_until)[1]
    assert delivery.breaker_after_success(probing, policy=FAST) == Breaker(open_seconds=0.5)


def test_a_stored_open_period_outside_the_policy_is_clamped():
    # The breaker row's default open_seconds (5 s) under a policy whose longest period is 2 s.
    b = Breaker(BreakerState.CLOSED, FAST.breaker_failure_threshold - 1, None, 5.0)
    assert delivery.breaker_after_failure(b, NOON, policy=FAST).open_seconds == 2.0


def test_the_ledger_is_not_read_before_a_late_write_could_have_landed():
    assert delivery.ledger_check_not_before(NOON) == NOON + timedelta(seconds=60)
    assert delivery.ledger_check_not_before(NOON, FAST) == NOON + timedelta(seconds=3)
