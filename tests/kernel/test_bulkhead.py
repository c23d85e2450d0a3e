"""The bulkhead decides without waiting on a hanging dependency, and waits (briefly) on a
merely busy one: a fake clock says how long the calls in flight have been running."""

from __future__ import annotations

import threading

from penaltypay.kernel.bulkhead import Bulkhead


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_full_of_calls_that_have_run_too_long_refuses_at_once():
    clock = Clock()
    bulkhead = Bulkhead("x", lambda: 1, wait=lambda: 60, stuck_after=lambda: 2, clock=clock)
    with bulkhead.try_enter() as first:
        assert first
        clock.now += 3  # the call in flight has run past "stuck": the dependency hangs
        with bulkhead.try_enter() as second:
            assert not second
    assert (bulkhead.refused, bulkhead.waited) == (1, 0)


def test_full_of_healthy_calls_waits_for_a_place_and_gets_it():
    bulkhead = Bulkhead("x", lambda: 1, wait=lambda: 30, stuck_after=lambda: 60)
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with bulkhead.try_enter() as entered:
            assert entered
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    threading.Timer(0.2, leave.set).start()
    with bulkhead.try_enter() as entered:
        assert entered
    holder.join()
    assert (bulkhead.refused, bulkhead.waited) == (0, 1)
    with bulkhead.try_enter() as again:  # both places given back: the next call goes straight in
        assert again and bulkhead.waited == 1


def test_without_a_wait_a_full_bulkhead_refuses():
    bulkhead = Bulkhead("x", lambda: 1)
    with bulkhead.try_enter() as first, bulkhead.try_enter() as second:
        assert first and not second


def test_after_a_call_that_ran_too_long_a_full_bulkhead_refuses_at_once_until_one_is_quick():
    clock = Clock()
    bulkhead = Bulkhead("x", lambda: 1, wait=lambda: 60, stuck_after=lambda: 2, clock=clock)
    with bulkhead.try_enter():
        clock.now += 2.5  # it timed out
    with bulkhead.try_enter() as fresh:
        assert fresh  # a free place is always taken
        clock.now += 0.1  # the newest call is young, but the last one hung: do not wait
        with bulkhead.try_enter() as waiting:
            assert not waiting
    assert (bulkhead.refused, bulkhead.waited) == (1, 0)
    with bulkhead.try_enter():
        clock.now += 0.1  # answered quickly: healthy again
    assert not bulkhead._hanging(clock.now)
