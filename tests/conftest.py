"""Shared fixtures: the ECS simulator and the sandbox payment provider run as real
local HTTP servers (one of each per test session, reset before each test that uses them)."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from penaltypay.kernel.clock import london_date
from tests.factories import late_licensing_case


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters live in the cache; tests must not see each other's.
    cache.clear()
    yield


@pytest.fixture(scope="session")
def ecs_simulator():
    from standins.ecs import EcsSimulator

    simulator = EcsSimulator()
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def pay_sandbox():
    from standins.pay import SandboxProvider

    sandbox = SandboxProvider()
    sandbox.start(host="127.0.0.1", port=0)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def ecs(ecs_simulator, settings):
    """The running ECS simulator, freshly seeded, with penaltypay pointed at it."""
    ecs_simulator.reset()
    settings.ECS_URL = ecs_simulator.url
    settings.ECS_LOOKUP_TIMEOUT = 2.0
    yield ecs_simulator
    ecs_simulator.reset()


@pytest.fixture
def provider(pay_sandbox, settings):
    """The running sandbox provider, reset, with penaltypay pointed at it."""
    pay_sandbox.reset()
    settings.PAY_API_URL = pay_sandbox.base_url
    settings.PAY_API_KEY = "sandbox-api-key"
    settings.PAY_WEBHOOK_SECRET = "test-webhook-secret"
    settings.PAY_TIMEOUT = 3.0
    yield pay_sandbox
    pay_sandbox.reset()


@pytest.fixture
def today():
    return london_date(timezone.now())


@pytest.fixture
def reduced_case(ecs, today):
    """A 7A whose reduction is still open: £40 now, £80 after the deadline."""
    case = late_licensing_case(
        reference="70000001",
        vrm="AB12CDE",
        issue_date=today - timedelta(days=10),
        reduction_deadline=today + timedelta(days=20),
        pay_by_date=today + timedelta(days=40),
    )
    ecs.put_case(case)
    return case


@pytest.fixture
def put_case(ecs, today):
    def put(**overrides):
        base = late_licensing_case(
            issue_date=today - timedelta(days=10),
            reduction_deadline=today + timedelta(days=20),
            pay_by_date=today + timedelta(days=40),
        )
        case = replace(base, **overrides)
        ecs.put_case(case)
        return case

    return put
