"""Declines are counted over a sliding 15 minutes: a burst split across a fixed window's edge
counts as one burst, and old declines fade out rather than vanish at the edge."""

from __future__ import annotations

import uuid

import pytest

from penaltypay.payments.card_testing import WINDOW_SECONDS, declines_in_last_window

pytestmark = pytest.mark.django_db  # the counts are in the database without Redis


def test_a_burst_across_a_windows_edge_is_one_burst():
    counter = f"test:{uuid.uuid4().hex}"
    edge = (10_000_000 // WINDOW_SECONDS + 1) * WINDOW_SECONDS
    for _ in range(4):
        declines_in_last_window(counter, adding=1, now=edge - 10)
    after = [declines_in_last_window(counter, adding=1, now=edge + 10) for _ in range(4)]
    # Fixed windows would have seen 4 and 4: never 5. The last 15 minutes hold 8.
    assert after[-1] > 7.9


def test_old_declines_fade_out_over_the_next_window():
    counter = f"test:{uuid.uuid4().hex}"
    start = (10_000_000 // WINDOW_SECONDS) * WINDOW_SECONDS
    for _ in range(5):
        declines_in_last_window(counter, adding=1, now=start + 1)
    assert declines_in_last_window(counter, now=start + WINDOW_SECONDS + WINDOW_SECONDS // 2) == 2.5
    assert declines_in_last_window(counter, now=start + 2 * WINDOW_SECONDS + 1) == 0
