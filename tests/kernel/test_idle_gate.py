"""Threads sharing an empty queue: one looks, the rest sleep until work is found."""

from __future__ import annotations

import threading
import time

from penaltypay.kernel.idle_gate import IdleGate


def run_threads(gate, stop, queue, looks, threads=16):
    lock = threading.Lock()

    def loop():
        while not stop.is_set():
            with lock:
                looks.append(threading.get_ident())
                item = queue.pop() if queue else None
            if item is None:
                gate.nothing_found(stop)
                continue
            gate.found_work()
            time.sleep(0.05)  # the work

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def test_an_empty_queue_is_looked_at_by_one_thread_not_all_of_them():
    gate, stop, looks = IdleGate(idle_seconds=0.05, sleep_at_most=30), threading.Event(), []
    workers = run_threads(gate, stop, [], looks)
    time.sleep(1.0)
    stop.set()
    for worker in workers:
        worker.join(timeout=3)
    # 16 first looks, then about one each 50 ms: far fewer than 16 threads x 20 rounds.
    assert len(looks) < 16 + 40, len(looks)
    assert not any(worker.is_alive() for worker in workers)


def test_a_backlog_spreads_over_the_threads():
    gate, stop, looks = IdleGate(idle_seconds=0.05, sleep_at_most=30), threading.Event(), []
    queue: list[int] = []
    workers = run_threads(gate, stop, queue, looks)
    time.sleep(0.3)  # all idle: one look-out, fifteen asleep
    before = len(looks)
    workers_seen_before = set(looks)
    queue.extend(range(64))
    deadline = time.monotonic() + 10
    while queue and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for worker in workers:
        worker.join(timeout=3)
    assert queue == []
    busy = set(looks[before:])
    assert len(workers_seen_before) == 16
    assert len(busy) >= 8, f"only {len(busy)} threads took part"


def test_a_sleeper_looks_again_on_its_own_after_sleep_at_most():
    gate, stop = IdleGate(idle_seconds=10, sleep_at_most=0.2), threading.Event()
    look_out = threading.Thread(target=gate.nothing_found, args=(stop,))
    look_out.start()
    time.sleep(0.05)
    started = time.monotonic()
    gate.nothing_found(stop)  # the look-out is taken: this one sleeps, at most 0.2 s
    assert time.monotonic() - started < 5
    stop.set()
    look_out.join(timeout=3)
    assert not look_out.is_alive()
