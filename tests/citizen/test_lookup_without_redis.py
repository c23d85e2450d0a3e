"""Redis away (stopped, or never answering): keepers still find their penalty, the limits
still hold in each process, and the operators are told — never a server error."""

from __future__ import annotations

import logging
import socket
import time

import pytest
import redis

from penaltypay import ratelimits
from tests.citizen.conftest import find
from tests.infrastructure import PrivateRedis, redis_available

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not redis_available(), reason="needs the redis-server binary"),
]


@pytest.fixture
def private_redis(settings, monkeypatch):
    server = PrivateRedis()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    monkeypatch.setattr(ratelimits, "_counter", ratelimits._Counter())
    yield server
    server.stop()


def events(caplog, name):
    return [r for r in caplog.records if getattr(r, "security_event", "") == name]


def test_lookups_go_on_under_the_per_process_limit_while_redis_is_away(
    private_redis, reduced_case, client, settings, caplog
):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 6
    for _ in range(2):
        assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302
    shared = redis.Redis.from_url(private_redis.url)
    assert any(b"lookup:address" in key for key in shared.keys())  # counted in Redis while it is there

    private_redis.stop()
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        answers = [find(client, reduced_case.reference, reduced_case.vrm).status_code for _ in range(8)]

    assert 500 not in answers
    # Redis held 2; this process counts afresh: 6 more are served, then the limit holds.
    assert answers == [302] * 6 + [429] * 2
    unavailable = events(caplog, "rate_limit_store_unavailable")
    assert len(unavailable) == 1  # once, not once a request
    assert unavailable[0].error == "ConnectionError"


def test_the_shared_count_resumes_when_redis_is_back(private_redis, reduced_case, client, settings, monkeypatch):
    monkeypatch.setattr(ratelimits, "FALLBACK_SECONDS", 0.2)
    private_redis.stop()
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302  # counted locally
    private_redis.start()
    time.sleep(0.3)
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 302
    keys = redis.Redis.from_url(private_redis.url).keys("*lookup:address*")
    assert keys, "the count went back to Redis"


def test_a_redis_that_never_answers_is_given_up_on(reduced_case, client, settings, monkeypatch, caplog):
    """A black hole: the connection is accepted, no command is ever answered. The first
    look-up waits out the socket timeout (without one it would hang for ever); the rest
    count in the process without asking Redis again."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)  # accepts the connection, never answers a command
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
            "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3},
        }
    }
    monkeypatch.setattr(ratelimits, "_counter", ratelimits._Counter())
    try:
        with caplog.at_level(logging.INFO, logger="penaltypay.security"):
            statuses = [find(client, reduced_case.reference, reduced_case.vrm).status_code for _ in range(3)]
    finally:
        listener.close()
    assert statuses == [302, 302, 302]
    assert [e.error for e in events(caplog, "rate_limit_store_unavailable")] == ["TimeoutError"]
