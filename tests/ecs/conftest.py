"""Fixtures for the ECS client and simulator tests.

These are integration tests over real HTTP on 127.0.0.1: one simulator per
test session, reseeded (and its faults cleared) around every test. They touch
neither the database nor Django settings.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from penaltypay.adapters.ecs_soap import EcsClient

# Short enough to keep the suite fast, long enough for an idle laptop.
CLIENT_TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Overrides the project-wide autouse fixture that clears Django's cache.

    Nothing here uses the cache, and these tests must run without Django
    settings (e.g. ``pytest tests/ecs -p no:django``).
    """
    yield


@pytest.fixture(scope="session")
def _ecs_server(ecs_simulator):
    """The suite's one running simulator (tests/conftest.py)."""
    return ecs_simulator


@pytest.fixture
def sim(_ecs_server):
    """The running simulator, freshly seeded with no faults; reset again afterwards to end hung calls."""
    _ecs_server.reset()
    yield _ecs_server
    _ecs_server.reset()


@pytest.fixture
def client(sim):
    ecs_client = EcsClient(sim.url, timeout=CLIENT_TIMEOUT)
    yield ecs_client
    ecs_client.close()


class Clock:
    """Real time plus an offset a test moves forward past a retry or settle time."""

    def __init__(self):
        self.offset = timedelta(0)

    def __call__(self):
        return datetime.now(timezone.utc) + self.offset

    def advance(self, seconds: float):
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()
