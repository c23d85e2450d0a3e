"""Fixtures for the ECS client and simulator tests.

These are integration tests over real HTTP on 127.0.0.1: one simulator per
test session, reseeded (and its faults cleared) around every test. They touch
neither the database nor Django settings.
"""
from __future__ import annotations

import pytest

from penaltypay.ecs.client import EcsClient
from penaltypay.sandbox.ecs_simulator import EcsSimulator

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
def _ecs_server():
    simulator = EcsSimulator()
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


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
