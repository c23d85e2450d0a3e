"""Keepers paying end to end, many at once, on the production process shape (docs/adr/0021).

`penaltypay web` (gunicorn, WEB_WORKERS x WEB_THREADS), WORKERS `penaltypay worker`
processes, the sandbox provider and the ECS simulator as their own processes, PostgreSQL
and Redis. Each keeper loops for S seconds over the whole journey: find page, look-up,
penalty page, pay page, "Pay" (the provider creates the payment), the provider's card
page, the card, back to us, the confirmation. A keeper told "busy" or "try again" (a 503
anywhere) counts as turned away for that journey and starts again.

Each run twice, side by side: with the provider's rate limit off (our own capacity) and on
(GOV.UK Pay's published 15 POSTs a second, which our pacing keeps to). Prints, per run
(ECS instant; ECS at 200-800 ms): journeys completed, payments a minute,
keepers turned away, journey p50/p99, the slowest steps, server errors (should be 0), and
where the CPU went (per component, per payment): the profile of a payment on this box.

    .venv/bin/python bench/payment_load_bench.py [--keepers 16] [--seconds 60] \\
        [--runs instant,slow] [--limits off,on] [--workers 2] [--threads 16] [--lookup-wait 1.0]

Needs the local PostgreSQL and Redis. The load generator shares the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_SERVER_URL, REPO, SimulatorProcess, fresh_database  # noqa: E402

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CARD_FORM = re.compile(r'<form method="post" action="([^"]+)" novalidate')
FAULTS = {"instant": {}, "slow": {"latency_ms": [200, 800]}}
PUBLISHED_LIMIT = 15  # GOV.UK Pay: POSTs a second per API key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listening on port {port}")


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.journeys: list[float] = []
        self.turned_away = 0
        self.server_errors = Counter()
        self.steps: dict[str, list[float]] = defaultdict(list)

    def step(self, name: str, seconds: float, status: int) -> None:
        with self.lock:
            self.steps[name].append(seconds)
            if status >= 500 and status != 503:
                self.server_errors[f"{status} {name}"] += 1


def one_journey(base: str, case: tuple[str, str], address: str, results: Results) -> bool:
    session = requests.Session()
    session.headers["X-Forwarded-For"] = address

    def call(name, method, url, **kwargs):
        started = time.perf_counter()
        response = session.request(method, url, timeout=30, **kwargs)
        results.step(name, time.perf_counter() - started, response.status_code)
        return response

    started = time.perf_counter()
    page = call("find page", "GET", f"{base}/find-your-penalty")
    token = CSRF.search(page.text).group(1)
    reference, registration = case
    found = call(
        "look-up",
        "POST",
        f"{base}/find-your-penalty",
        data={"csrfmiddlewaretoken": token, "reference": reference, "registration": registration},
    )
    if found.status_code == 503 or not found.url.endswith("/your-penalty"):
        return False
    pay_page = call("pay page", "GET", f"{base}/pay")
    token = CSRF.search(pay_page.text).group(1)
    card_page = call("pay", "POST", f"{base}/pay", data={"csrfmiddlewaretoken": token, "email": ""})
    action = CARD_FORM.search(card_page.text) if card_page.status_code == 200 else None
    if action is None:
        return False
    fields = {
        "card_number": "4444333322221111",
        "expiry_month": "12",
        "expiry_year": "2031",
        "cardholder_name": "Bench Keeper",
        "security_code": "123",
    }
    done = call("card and return", "POST", urljoin(card_page.url, action.group(1)), data=fields)
    if done.status_code != 200 or "/pay/complete/" not in done.url:
        return False
    with results.lock:
        results.journeys.append(time.perf_counter() - started)
    return True


def load(base: str, cases: list[tuple[str, str]], keepers: int, seconds: float) -> tuple[Results, float]:
    results = Results()
    until = time.monotonic() + seconds
    counter = iter(range(10**9))
    counter_lock = threading.Lock()

    def keeper(n: int):
        while time.monotonic() < until:
            with counter_lock:
                i = next(counter)
            try:
                paid = one_journey(base, cases[i % len(cases)], f"10.{n}.{i // 250 % 250}.{i % 250 + 1}", results)
            except (requests.RequestException, AttributeError):
                paid = False
            if not paid:
                with results.lock:
                    results.turned_away += 1

    started = time.monotonic()
    threads = [threading.Thread(target=keeper, args=(n,)) for n in range(keepers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * p) - 1)] if ordered else 0.0


def report(run: str, keepers: int, results: Results, wall: float) -> None:
    journeys = results.journeys
    print(
        f"\n{run}, {keepers} keepers: {len(journeys)} payments in {wall:.0f} s = "
        f"{len(journeys) / wall * 60:.0f} payments/min; turned away {results.turned_away}; "
        f"journey p50 {statistics.median(journeys) if journeys else 0:.2f} s, "
        f"p99 {percentile(journeys, 0.99):.2f} s; server errors {dict(results.server_errors) or 0}"
    )
    for name, times in results.steps.items():
        print(
            f"  {name:16} n={len(times):5}  p50 {statistics.median(times) * 1000:6.0f} ms"
            f"  p99 {percentile(times, 0.99) * 1000:6.0f} ms"
        )


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(sessions: dict[str, list[int]]) -> dict[str, float]:
    """CPU time used so far, per component: our processes by session id (each was started in
    a session of its own), PostgreSQL and Redis by name, the load generator itself."""
    used = dict.fromkeys([*sessions, "postgresql", "redis", "load generator"], 0.0)
    by_session = {sid: name for name, sids in sessions.items() for sid in sids}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        command = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        session, seconds = int(fields[3]), (int(fields[11]) + int(fields[12])) / TICKS
        if session in by_session:
            used[by_session[session]] += seconds
        elif command == "postgres":
            used["postgresql"] += seconds
        elif command.startswith("redis-server"):
            used["redis"] += seconds
    mine = os.times()
    used["load generator"] = mine.user + mine.system
    return used


def report_cpu(before: dict[str, float], after: dict[str, float], payments: int, wall: float) -> None:
    spent = {name: after[name] - before[name] for name in after}
    total = sum(spent.values())
    per_payment = total / max(1, payments) * 1000
    print(f"  CPU: {total:.1f} s of {2 * wall:.0f} s available on 2 cores; per payment {per_payment:.0f} ms")
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        share, each = seconds / max(total, 1e-9), seconds / max(1, payments) * 1000
        print(f"    {name:16} {seconds:6.1f} s  {share:5.1%}  {each:5.1f} ms/payment")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keepers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--runs", default="instant,slow")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--background-workers", type=int, default=2)
    parser.add_argument("--lookup-wait", type=float, default=1.0, help="ECS_LOOKUP_WAIT_SECONDS")
    parser.add_argument("--warmup", type=float, default=8, help="seconds of unmeasured load first")
    parser.add_argument("--cases", type=int, default=20000, help="distinct penalties (each is paid once)")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--database", default="penaltypay_bench_payments")
    parser.add_argument("--limits", default="off,on", help="the provider's rate limit: off (our capacity), on (15/s)")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="payment-bench-"))
    print(
        f"{args.keepers} keepers, {args.seconds:.0f} s a run; web {args.workers}x{args.threads}, "
        f"{args.background_workers} workers; look-up wait {args.lookup_wait} s; logs in {logs}",
        flush=True,
    )
    simulator = SimulatorProcess(log_path=logs / "ecs.log")
    pay_port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "standins.pay", "--port", str(pay_port), "--log-level", "WARNING"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=open(logs / "sandbox.log", "wb"),  # noqa: SIM115
        start_new_session=True,
    )
    wait_for(pay_port)
    try:
        measure(args, logs, simulator, sandbox, pay_port)
    finally:
        sandbox_stop(sandbox)
        simulator.stop()


def measure(args, logs: Path, simulator, sandbox, pay_port: int) -> None:
    from standins.chaos import chaos_case

    with fresh_database(args.server_url, args.database) as database_url:
        from penaltypay.kernel.clock import london_date

        today = london_date(datetime.now(UTC))
        cases = [chaos_case(f"{95_000_000 + i:08d}", today) for i in range(args.cases)]
        simulator.put_cases(cases)
        pairs = [(c.reference, c.vrm) for c in cases]
        env = {
            **os.environ,
            "PENALTYPAY_ENV": "test",
            "DEBUG": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "ECS_URL": simulator.url,
            "PAY_API_URL": f"http://127.0.0.1:{pay_port}",
            "LOG_LEVEL": "ERROR",
            "WEB_WORKERS": str(args.workers),
            "WEB_THREADS": str(args.threads),
            "ECS_LOOKUP_WAIT_SECONDS": str(args.lookup_wait),
            "TRUSTED_PROXY_COUNT": "1",
            "LOOKUP_RATE_LIMIT_PER_ADDRESS": "1000000",
            "LOOKUP_RATE_LIMIT_PER_REFERENCE": "1000000",
            "PENALTYPAY_VAR_DIR": str(logs / "var"),
            "DATABASE_CONN_MAX_AGE": "600",
            "ECS_RESPECT_BATCH_WINDOW": "0",
        }
        env.pop("DJANGO_SETTINGS_MODULE", None)
        offset = 0
        for limit in args.limits.split(","):
            # off: our own capacity (the provider's limit and our pacing both off); on: payments
            # a minute under the provider's published limit, paced to it (ADR 0027).
            published = 0 if limit == "off" else PUBLISHED_LIMIT
            requests.post(
                f"http://127.0.0.1:{pay_port}/_sandbox/config", json={"rate_limit_per_second": published}, timeout=10
            )
            service_env = {**env, "PAY_RATE_LIMIT_PER_SECOND": str(published)}
            print(f"-- provider's rate limit {limit}" + (f" ({published} POSTs a second)" if published else ""))
            offset = run_service(args, service_env, logs / f"limit-{limit}", sandbox, simulator, pairs, offset)


def sandbox_stop(sandbox: subprocess.Popen) -> None:
    os.killpg(sandbox.pid, signal.SIGTERM)
    sandbox.wait(timeout=30)


def run_service(args, env: dict, logs: Path, sandbox, simulator, pairs, offset: int) -> int:
    """Start web and workers, warm up, measure each run; returns the next unused penalty."""
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "penaltypay.cli", "web", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=open(logs / "web.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "penaltypay.cli", "worker"],
            cwd=REPO,
            env=env,
            stdout=open(logs / f"worker{n}.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(args.background_workers)
    ]
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}"
        sessions = {
            "web": [web.pid],
            "workers": [worker.pid for worker in workers],
            "sandbox": [sandbox.pid],
            "ECS simulator": [os.getsid(simulator.process.pid)],
        }
        # Warm up (imports, compiled templates, connections) before anything is measured.
        warm, _ = load(base, pairs[offset:], min(4, args.keepers), args.warmup)
        offset += len(warm.journeys) + warm.turned_away + args.keepers
        for run in args.runs.split(","):
            simulator.set_faults(**FAULTS[run])
            before = cpu_seconds(sessions)
            results, wall = load(base, pairs[offset:], args.keepers, args.seconds)
            after = cpu_seconds(sessions)
            offset += len(results.journeys) + results.turned_away + args.keepers
            report(run, args.keepers, results, wall)
            report_cpu(before, after, len(results.journeys), wall)
    finally:
        for process in (web, *workers):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (web, *workers):
            process.wait(timeout=30)
    return offset


if __name__ == "__main__":
    main()
