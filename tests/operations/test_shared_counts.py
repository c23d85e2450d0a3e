"""Without Redis (the embedded default) the rate limits and card-testing pauses live in the
service's own database: every process counts into the same rows, atomically, so two
gunicorn processes see one count and one pause."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from penaltypay.web.shared_counts import DatabaseCountsCache
from tests.staff_helpers import in_two_processes_at_once

pytestmark = pytest.mark.django_db(transaction=True)

COUNT_A_HUNDRED = (
    "from penaltypay import ratelimits; "
    "[ratelimits.count('ratelimit:shared-test', 60) for _ in range(100)]; "
    "print(ratelimits.count('ratelimit:shared-test', 60, by=0))"
)


def test_two_processes_counting_at_once_lose_nothing():
    results = in_two_processes_at_once(COUNT_A_HUNDRED)
    assert max(int(done.stdout.split()[-1]) for done in results) == 200


def test_the_database_store_counts_marks_and_forgets_atomically():
    store = DatabaseCountsCache("", {})
    assert store.add("k", 0, timeout=60) is True
    assert store.add("k", 0, timeout=60) is False  # already there: not reset
    counted: list[int] = []

    def count():
        try:
            counted.extend(store.incr("k") for _ in range(50))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(counted) == list(range(1, 201))  # every increment seen once, none lost
    store.set("pause", 1765.5, timeout=60)
    assert store.get("pause") == 1765.5 and store.has_key("pause")
    assert store.delete("pause") is True and store.get("pause") is None
    store.set("gone", 1, timeout=-1)  # already expired: absent, and may be added afresh
    assert store.get("gone") is None and store.add("gone", 0, timeout=60) is True
    with pytest.raises(ValueError):
        store.incr("never-added")
    store.clear()
    assert store.get("k") is None
    # The rate limits' own operation, one statement: a count starts, grows, and starts afresh
    # once its time is up.
    assert [store.add_and_count("c", 60, 1) for _ in range(3)] == [1, 2, 3]
    assert store.add_and_count("c", 60, -1) == 2
    store.touch("c", timeout=-1)
    assert store.add_and_count("c", 60, 1) == 1
