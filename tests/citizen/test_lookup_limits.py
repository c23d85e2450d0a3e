"""The look-up limits hold when many requests arrive at once: every attempt is counted
before ECS is asked. Run on SQLite with the local-memory cache and on PostgreSQL with
Redis (the two passes of make test)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.core.cache import cache
from django.db import connections
from django.test import Client

from penaltypay import ratelimits as ratelimit
from penaltypay.kernel.metrics import SECURITY_EVENTS
from penaltypay.security import group_address

pytestmark = pytest.mark.django_db(transaction=True)

SIMULTANEOUS = 60


@pytest.fixture(autouse=True)
def one_window(settings):
    """The limits count in fixed windows: a test that ran across a window's end would see
    its count start again. One window for the whole test, whatever the time it runs at."""
    settings.LOOKUP_RATE_LIMIT_WINDOW_SECONDS = 10**9


@pytest.fixture
def patient(ecs, settings):
    """Sixty threads of one process on two cores starve each other: a 250 ms look-up can take
    seconds. The limits are what is tested here, not the look-up's timeout."""
    settings.ECS_LOOKUP_TIMEOUT = 15.0
    settings.ECS_LOOKUP_WAIT_SECONDS = 15.0
    settings.ECS_LOOKUP_STUCK_SECONDS = 15.0
    return ecs


def counted(event: str) -> float:
    """This process's count of a security event (the requests here run in-process)."""
    return SECURITY_EVENTS.labels(event=event)._value.get()


def fire_at_once(requests_to_send):
    """Start every request together (a barrier), wait for all. Each thread is its own browser
    (its own client and cookies) on one shared request handler, as threads of one server
    process share theirs: building a handler per client would spend seconds loading the
    middleware and starve the look-ups of CPU."""
    barrier = threading.Barrier(len(requests_to_send))
    statuses = [None] * len(requests_to_send)
    server = Client()
    server.get("/")  # load the middleware once

    def one(n, data, address):
        client = Client(REMOTE_ADDR=address)
        client.handler = server.handler
        barrier.wait()
        statuses[n] = client.post("/find-your-penalty", data).status_code
        connections.close_all()

    threads = [threading.Thread(target=one, args=(n, *item)) for n, item in enumerate(requests_to_send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return statuses


def test_sixty_simultaneous_lookups_from_one_address_serve_at_most_the_limit(reduced_case, patient, settings):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 20
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 1000
    patient.set_faults(latency_ms=[200, 300])  # each look-up holds ECS for a while: the race window
    data = {"reference": reduced_case.reference, "registration": reduced_case.vrm}
    statuses = fire_at_once([(data, "203.0.113.9")] * SIMULTANEOUS)
    served = [s for s in statuses if s != 429]
    assert len(served) == 20, statuses
    assert statuses.count(429) == SIMULTANEOUS - 20


def test_sixty_simultaneous_wrong_guesses_at_one_reference_are_held_to_its_limit(reduced_case, patient, settings):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 1000
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 5
    patient.set_faults(latency_ms=[200, 300])
    guesses = [
        ({"reference": reduced_case.reference, "registration": f"XX{n:05d}"}, f"198.51.100.{n}")
        for n in range(SIMULTANEOUS)
    ]  # many addresses, one reference
    statuses = fire_at_once(guesses)
    assert statuses.count(200) == 5, sorted(statuses)  # the not-found page, five times
    assert statuses.count(429) == SIMULTANEOUS - 5
    assert len(patient.ledger(reduced_case.reference)) == 0


def test_a_successful_lookup_does_not_use_up_the_references_allowance(client, reduced_case, settings):
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 2
    for _ in range(5):
        client.post("/find-your-penalty", {"reference": reduced_case.reference, "registration": reduced_case.vrm})
    assert (
        client.post("/find-your-penalty", {"reference": reduced_case.reference, "registration": "WRONG1"}).status_code
        == 200
    )
    assert (
        client.post("/find-your-penalty", {"reference": reduced_case.reference, "registration": "WRONG2"}).status_code
        == 200
    )
    assert (
        client.post("/find-your-penalty", {"reference": reduced_case.reference, "registration": "WRONG3"}).status_code
        == 429
    )


@pytest.mark.parametrize(
    "address,group",
    [
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("203.0.113.9", "203.0.113.9"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_addresses_count_per_64(address, group):
    assert group_address(address) == group


def test_one_slash_64_shares_one_allowance(reduced_case, settings):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 3
    data = {"reference": reduced_case.reference, "registration": reduced_case.vrm}
    for n in range(3):
        assert Client(REMOTE_ADDR=f"2001:db8:7:7::{n + 1}").post("/find-your-penalty", data).status_code == 302
    assert Client(REMOTE_ADDR="2001:db8:7:7:dead:beef::9").post("/find-your-penalty", data).status_code == 429
    assert Client(REMOTE_ADDR="2001:db8:7:8::1").post("/find-your-penalty", data).status_code == 302


def test_a_surge_of_failed_lookups_across_the_service_raises_one_alert(reduced_case, settings, caplog):
    settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 1000
    settings.LOOKUP_FAILURE_ALERT_PER_MINUTE = 4
    # The surge is counted by the clock's minute: the eight guesses must fall in one (on a
    # busy machine they may straddle a minute's end; then they are made again in the next).
    for _ in range(3):
        cache.clear()
        caplog.clear()
        minute = int(time.time()) // 60
        before = {name: counted(name) for name in ("lookup_failure_surge", "lookup_not_found")}
        with caplog.at_level(logging.INFO, logger="penaltypay.security"):
            for n in range(8):  # each from its own address, each under every per-address limit
                Client(REMOTE_ADDR=f"192.0.2.{n}").post(
                    "/find-your-penalty", {"reference": reduced_case.reference, "registration": f"GUESS{n}"}
                )
        if int(time.time()) // 60 == minute:
            break
    surges = [r for r in caplog.records if getattr(r, "security_event", "") == "lookup_failure_surge"]
    assert len(surges) == 1 and surges[0].failures_this_minute == 5
    assert counted("lookup_failure_surge") - before["lookup_failure_surge"] == 1
    assert counted("lookup_not_found") - before["lookup_not_found"] == 8


def test_refused_and_failed_lookups_are_security_events_without_the_address(reduced_case, settings, caplog):
    settings.LOOKUP_RATE_LIMIT_PER_ADDRESS = 1
    client = Client(REMOTE_ADDR="203.0.113.77")
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        client.post("/find-your-penalty", {"reference": reduced_case.reference, "registration": "NOTMINE"})
        client.post("/find-your-penalty", {"reference": reduced_case.reference, "registration": "NOTMINE"})
    events = {r.security_event: r for r in caplog.records if hasattr(r, "security_event")}
    assert set(events) == {"lookup_not_found", "lookup_rate_limited"}
    for record in events.values():
        assert record.address_hash == ratelimit.address_hash("203.0.113.77")
        assert "203.0.113.77" not in record.getMessage() + str(vars(record))
        assert "NOTMINE" not in str(vars(record))
    assert events["lookup_rate_limited"].limit == "address"
