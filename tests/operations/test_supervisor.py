"""`penaltypay run` keeps the local service up: a child that dies is restarted with
back-off while the others keep serving; stopping stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from penaltypay.operations.supervisor import FIRST_BACKOFF_SECONDS, HEALTHY_AFTER_SECONDS, Supervisor

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def supervisor():
    clock = Clock()
    sup = Supervisor(clock=clock)
    sup.clock = clock
    yield sup
    sup.stop_all(timeout=5)


def wait_dead(process, timeout=5.0):
    process.wait(timeout=timeout)


def test_a_dead_child_is_restarted_after_a_back_off_and_the_others_keep_running(supervisor):
    web = supervisor.add("web", SLEEPER)
    worker = supervisor.add("worker", SLEEPER)
    first = worker.process
    first.send_signal(signal.SIGKILL)
    wait_dead(first)

    supervisor.check()  # noticed: due again after the back-off, not at once
    assert worker.process is first and worker.restart_at == supervisor.clock.now + FIRST_BACKOFF_SECONDS
    supervisor.clock.now += FIRST_BACKOFF_SECONDS
    supervisor.check()
    assert worker.process is not first and worker.process.poll() is None
    assert (worker.restarts, worker.history) == (1, [-signal.SIGKILL])
    assert web.process.poll() is None and web.restarts == 0


def test_a_child_that_keeps_dying_waits_longer_each_time_until_it_stays_up(supervisor):
    worker = supervisor.add("worker", [sys.executable, "-c", "raise SystemExit(3)"])
    waits = []
    for _ in range(4):
        wait_dead(worker.process)
        supervisor.check()
        waits.append(worker.restart_at - supervisor.clock.now)
        supervisor.clock.now = worker.restart_at
        supervisor.check()
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert worker.history == [3, 3, 3, 3]
    # Up for a minute: the next failure is restarted promptly again.
    wait_dead(worker.process)
    supervisor.clock.now += HEALTHY_AFTER_SECONDS
    supervisor.check()
    assert worker.restart_at - supervisor.clock.now == FIRST_BACKOFF_SECONDS


def test_stopping_stops_every_child(supervisor):
    children = [supervisor.add(name, SLEEPER) for name in ("a", "b", "c")]
    supervisor.stop_all(timeout=5)
    assert all(child.process.poll() is not None for child in children)


# --- the real `penaltypay run` ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def worker_pids(run_pid: int) -> list[int]:
    return [pid for pid in children_of(run_pid) if " worker" in command_line(pid)]


@pytest.mark.slow
@pytest.mark.serial  # "the web keeps answering" is timed: not beside other processes' load
def test_penaltypay_run_restarts_a_killed_worker_while_the_web_keeps_answering(tmp_path, ecs_simulator, pay_sandbox):
    port = free_port()
    env = {
        **os.environ,
        "PENALTYPAY_ENV": "local",
        "PENALTYPAY_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "ECS_URL": ecs_simulator.url,  # the test session's stand-ins: `run` starts only web and worker
        "PAY_API_URL": pay_sandbox.base_url,
        "WEB_WORKERS": "1",
        "WEB_THREADS": "2",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run = subprocess.Popen(
        [sys.executable, "-m", "penaltypay.cli", "run", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200 and worker_pids(run.pid):
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline and run.poll() is None, "penaltypay run did not start"
            time.sleep(0.2)
        (first,) = worker_pids(run.pid)
        os.kill(first, signal.SIGKILL)
        answered = 0
        deadline = time.monotonic() + 20
        while True:
            assert requests.get(f"{base}/", timeout=10).status_code == 200  # the web never stopped
            answered += 1
            now = worker_pids(run.pid)
            if now and now != [first]:
                break
            assert time.monotonic() < deadline, "the worker was not restarted"
            time.sleep(0.2)
        assert run.poll() is None and answered > 0
    finally:
        run.send_signal(signal.SIGINT)
        out, _ = run.communicate(timeout=30)
    assert run.returncode == 0, out.decode(errors="replace")[-2000:]
    assert b"child exited; restarting it" in out
