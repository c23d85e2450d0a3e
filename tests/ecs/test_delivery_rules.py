"""Retry, back-off, batch-window and breaker decisions, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from penaltypay.ecs import delivery, errors
from penaltypay.ecs.delivery import Breaker, BreakerState, Outcome
from penaltypay.kernel.clock import LONDON

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=LONDON)


def never_random():
    return 0.0


def always_max():
    return 1.0


class TestBatchWindow:
    @pytest.mark.parametrize(
        "local,inside",
        [((0, 29, 59), False), ((0, 30, 0), True), ((1, 45, 0), True), ((2, 29, 59), True), ((2, 30, 0), False)],
    )
    def test_window_is_00_30_to_02_30_london(self, local, inside):
        at = datetime(2026, 11, 24, *local, tzinfo=LONDON)
        assert delivery.in_batch_window(at) is inside

    def test_window_follows_london_time_in_summer(self):
        # 00:45 BST is 23:45 UTC the day before.
        at = datetime(2026, 6, 30, 23, 45, tzinfo=UTC)
        assert delivery.in_batch_window(at)
        assert delivery.batch_window_end(at) == datetime(2026, 7, 1, 2, 30, tzinfo=LONDON)

    def test_unavailable_in_the_window_waits_for_its_end(self):
        at = datetime(2026, 11, 24, 1, 0, tzinfo=LONDON)
        decision = delivery.decide_after_error(errors.ServiceUnavailable("batch"), 3, at, never_random)
        assert decision.outcome is Outcome.RETRY
        assert decision.retry_at == datetime(2026, 11, 24, 2, 30, tzinfo=LONDON)

    def test_unavailable_outside_the_window_backs_off(self):
        decision = delivery.decide_after_error(errors.ServiceUnavailable("maintenance"), 1, NOON, never_random)
        assert decision.retry_at == NOON + timedelta(seconds=1)

    def test_window_can_be_ignored_for_test_runs(self):
        at = datetime(2026, 11, 24, 1, 0, tzinfo=LONDON)
        decision = delivery.decide_after_error(errors.ServiceUnavailable("x"), 1, at, never_random, batch_window=False)
        assert decision.retry_at == at + timedelta(seconds=1)


class TestBackoff:
    def test_doubles_with_each_attempt_and_is_capped(self):
        steps = [delivery.backoff_seconds(n, always_max) for n in range(1, 12)]
        assert steps[:5] == [2, 4, 8, 16, 32]
        assert max(steps) == delivery.BACKOFF_CAP_SECONDS

    def test_jitter_keeps_at_least_half_the_step(self):
        assert delivery.backoff_seconds(3, never_random) == 4
        assert delivery.backoff_seconds(3, always_max) == 8

    @pytest.mark.parametrize(
        "error", [errors.EcsInternalError("x"), errors.EcsOutcomeUnknown("timeout"), errors.EcsUnreachable("refused")]
    )
    def test_transient_errors_retry(self, error):
        decision = delivery.decide_after_error(error, 2, NOON, never_random)
        assert decision.outcome is Outcome.RETRY and decision.retry_at == NOON + timedelta(seconds=2)

    def test_unknown_outcome_requires_a_ledger_check_first(self):
        assert delivery.decide_after_error(errors.EcsOutcomeUnknown("t"), 1, NOON).check_ledger_first
        assert not delivery.decide_after_error(errors.EcsUnreachable("r"), 1, NOON).check_ledger_first


class TestStopForAPerson:
    @pytest.mark.parametrize(
        "error",
        [
            errors.CaseClosed("closed"),
            errors.CaseNotFound("nf"),
            errors.VrmMismatch("vm"),
            errors.CaseTypeNotSupported("t"),
        ],
    )
    def test_business_refusals_become_exceptions_without_retry(self, error):
        decision = delivery.decide_after_error(error, 1, NOON)
        assert decision.outcome is Outcome.EXCEPTION and decision.retry_at is None and not decision.alert

    def test_case_closed_says_money_must_be_refunded(self):
        assert "refund" in delivery.decide_after_error(errors.CaseClosed("c"), 1, NOON).reason

    def test_validation_error_is_a_defect_and_alerts(self):
        decision = delivery.decide_after_error(errors.EcsValidationError("bad PaidAt"), 1, NOON)
        assert decision.outcome is Outcome.EXCEPTION and decision.alert
        assert "bad PaidAt" in decision.reason

    def test_an_unknown_fault_code_stops_and_alerts(self):
        decision = delivery.decide_after_error(errors.fault_from_code("NEW_CODE", "?"), 1, NOON)
        assert decision.outcome is Outcome.EXCEPTION and decision.alert


class TestBreaker:
    def test_opens_after_consecutive_failures(self):
        b = Breaker()
        for _ in range(delivery.BREAKER_FAILURE_THRESHOLD - 1):
            b = delivery.breaker_after_failure(b, NOON)
            assert b.state is BreakerState.CLOSED
        b = delivery.breaker_after_failure(b, NOON)
        assert b.state is BreakerState.OPEN
        assert delivery.breaker_permits(b, NOON + timedelta(seconds=1)) == (False, b)

    def test_one_probe_after_the_open_period_then_closes_on_success(self):
        b = Breaker(BreakerState.OPEN, 5, NOON, 5.0)
        allowed, probing = delivery.breaker_permits(b, NOON)
        assert allowed and probing.state is BreakerState.HALF_OPEN
        # a second caller during the probe waits
        assert delivery.breaker_permits(probing, NOON + timedelta(seconds=1))[0] is False
        assert delivery.breaker_after_success(probing) == Breaker()

    def test_failed_probe_reopens_for_longer(self):
        probing = Breaker(BreakerState.HALF_OPEN, 5, NOON + timedelta(seconds=5), 5.0)
        reopened = delivery.breaker_after_failure(probing, NOON)
        assert reopened.state is BreakerState.OPEN
        assert reopened.open_seconds == 10.0 and reopened.open_until == NOON + timedelta(seconds=10)

    def test_open_period_is_capped(self):
        probing = Breaker(BreakerState.HALF_OPEN, 9, NOON, delivery.BREAKER_MAX_OPEN_SECONDS)
        assert delivery.breaker_after_failure(probing, NOON).open_seconds == delivery.BREAKER_MAX_OPEN_SECONDS

    def test_a_probe_whose_worker_died_is_replaced(self):
        stuck = Breaker(BreakerState.HALF_OPEN, 5, NOON, 5.0)
        assert delivery.breaker_permits(stuck, NOON + timedelta(seconds=1))[0] is True

    @pytest.mark.parametrize(
        "error,counts",
        [
            (errors.EcsUnreachable("r"), True),
            (errors.EcsOutcomeUnknown("t"), True),
            (errors.ServiceUnavailable("u"), True),
            (errors.EcsInternalError("i"), True),
            (errors.CaseClosed("c"), False),
            (errors.EcsValidationError("v"), False),
        ],
    )
    def test_only_signs_of_a_sick_ecs_count(self, error, counts):
        assert delivery.breaker_counts(error) is counts
