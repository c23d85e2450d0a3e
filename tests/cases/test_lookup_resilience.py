"""A look-up never queues behind other keepers' look-ups (the bulkhead), and a read that ECS
answered badly is asked once more — but never one that timed out."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.test import Client

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.cases.lookup import ECS_LOOKUPS, LookupOutcome, find_case
from penaltypay.cases.store import remember_case

pytestmark = pytest.mark.django_db(transaction=True)


class CountingSource:
    """The real ECS client, counting the look-ups it is asked for."""

    def __init__(self, url, timeout=1.0):
        self.client = EcsClient(url, timeout=timeout)
        self.calls = 0

    def get_case(self, reference, vrm):
        self.calls += 1
        return self.client.get_case(reference, vrm)


def seed_where(probability: float, first: bool, second: bool) -> int:
    """A seed for the simulator's dice whose first two rolls come out as wanted."""
    for seed in range(10_000):
        dice = random.Random(seed)
        if (dice.random() < probability) == first and (dice.random() < probability) == second:
            return seed
    raise AssertionError("no such seed")


def test_a_bare_http_500_is_asked_once_more(reduced_case, ecs):
    ecs.set_faults(http_500_without_fault=0.5, seed=seed_where(0.5, True, False))
    source = CountingSource(ecs.url)
    lookup = find_case(reduced_case.reference, reduced_case.vrm, source)
    assert (lookup.outcome, lookup.from_local_store, source.calls) == (LookupOutcome.FOUND, False, 2)


def test_a_reset_connection_is_asked_once_more(reduced_case, ecs):
    ecs.set_faults(reset_before_commit=0.5, seed=seed_where(0.5, True, False))
    source = CountingSource(ecs.url)
    lookup = find_case(reduced_case.reference, reduced_case.vrm, source)
    assert (lookup.outcome, source.calls) == (LookupOutcome.FOUND, 2)


def test_only_once_more(reduced_case, ecs):
    ecs.set_faults(http_500_without_fault=1.0)
    source = CountingSource(ecs.url)
    assert find_case(reduced_case.reference, reduced_case.vrm, source).outcome is LookupOutcome.UNAVAILABLE
    assert source.calls == 2


def test_a_timeout_is_not_asked_again(reduced_case, ecs):
    ecs.set_faults(latency_ms=1500)
    source = CountingSource(ecs.url, timeout=0.3)
    started = time.monotonic()
    assert find_case(reduced_case.reference, reduced_case.vrm, source).outcome is LookupOutcome.UNAVAILABLE
    assert source.calls == 1 and time.monotonic() - started < 1.0


def _hold_every_place(ecs, settings, release: threading.Event):
    """Fill this process's look-up places with slow look-ups of another case."""
    ready = threading.Barrier(settings.ECS_LOOKUP_CONCURRENCY + 1)

    def slow():
        source = CountingSource(ecs.url, timeout=5)
        with ECS_LOOKUPS.try_enter() as entered:
            assert entered
            ready.wait()
            release.wait(10)
            source.client.close()

    threads = [threading.Thread(target=slow) for _ in range(settings.ECS_LOOKUP_CONCURRENCY)]
    for thread in threads:
        thread.start()
    ready.wait()
    return threads


def test_when_ecs_hangs_with_every_place_taken_a_case_we_hold_is_answered_from_the_store_at_once(
    reduced_case, ecs, settings
):
    settings.ECS_LOOKUP_CONCURRENCY = 3
    settings.ECS_LOOKUP_STUCK_SECONDS = 0  # every call in flight counts as hanging
    remember_case(reduced_case)
    release = threading.Event()
    threads = _hold_every_place(ecs, settings, release)
    waited = ECS_LOOKUPS.waited
    try:
        source = CountingSource(ecs.url)
        lookup = find_case(reduced_case.reference, reduced_case.vrm, source)
        assert (lookup.outcome, lookup.from_local_store, source.calls) == (LookupOutcome.FOUND, True, 0)
        assert ECS_LOOKUPS.waited == waited  # no queue behind a hanging ECS
    finally:
        release.set()
        for thread in threads:
            thread.join()


def test_when_ecs_hangs_with_every_place_taken_a_case_we_do_not_hold_gets_the_busy_page(reduced_case, ecs, settings):
    settings.ECS_LOOKUP_CONCURRENCY = 2
    settings.ECS_LOOKUP_STUCK_SECONDS = 0
    release = threading.Event()
    threads = _hold_every_place(ecs, settings, release)
    try:
        response = Client().post(
            "/find-your-penalty", {"reference": reduced_case.reference, "registration": reduced_case.vrm}
        )
        assert response.status_code == 503 and response["Retry-After"] == "60"
        assert "Sorry, the service is busy" in response.content.decode()
    finally:
        release.set()
        for thread in threads:
            thread.join()
    # A place free again: the same keeper is served.
    response = Client().post(
        "/find-your-penalty", {"reference": reduced_case.reference, "registration": reduced_case.vrm}
    )
    assert response.status_code == 302


def test_when_every_place_is_taken_by_healthy_look_ups_a_keeper_waits_briefly_and_is_served(
    reduced_case, ecs, settings
):
    """A busy afternoon, not a broken ECS: the places are full of look-ups that are simply
    running; one frees within the short wait and the keeper is served by ECS, not turned away."""
    settings.ECS_LOOKUP_CONCURRENCY = 2
    settings.ECS_LOOKUP_WAIT_SECONDS = 5
    settings.ECS_LOOKUP_STUCK_SECONDS = 60
    release = threading.Event()
    threads = _hold_every_place(ecs, settings, release)
    waited = ECS_LOOKUPS.waited
    threading.Timer(0.3, release.set).start()  # the running look-ups finish
    try:
        source = CountingSource(ecs.url)
        lookup = find_case(reduced_case.reference, reduced_case.vrm, source)
    finally:
        release.set()
        for thread in threads:
            thread.join()
    assert (lookup.outcome, lookup.from_local_store, source.calls) == (LookupOutcome.FOUND, False, 1)
    assert ECS_LOOKUPS.waited == waited + 1
