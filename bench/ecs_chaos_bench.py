#!/usr/bin/env python
"""Chaos benchmark: the outbox chaos test at scale (default 10,000 payments).

Sets up a fresh PostgreSQL database, starts the ECS simulator as its own process with
random faults (writes that commit then time out, resets before and after the commit,
HTTP 500 without a fault, a slow tail longer than the client's timeout), enqueues the
payments and refunds, runs worker processes, SIGKILLs one mid-run and starts a
replacement, opens a SERVICE_UNAVAILABLE window and a refused-connections window, waits
for the outbox to drain, and prints:

    payments sent, duplicates (must be 0), missing (must be 0),
    order violations (must be 0), wall time

Exit status 0 only when duplicates, missing, order violations and unexpected ledger
lines are all 0. Not a timed test: see bench/README.md.

    .venv/bin/python bench/ecs_chaos_bench.py [--payments 10000] [--workers 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    DEFAULT_SERVER_URL,
    SimulatorProcess,
    analyze_outbox,
    fresh_database,
    outbox_counts,
    print_verdict,
    progress,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=None, help="default: payments / 10")
    parser.add_argument("--refund-ratio", type=float, default=0.2, help="share of payments later refunded")
    parser.add_argument("--workers", type=int, default=2, help="worker processes at once")
    parser.add_argument("--concurrency", type=int, default=8, help="threads per worker process")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fault-rate", type=float, default=0.03, help="probability of each of the four transport faults per call"
    )
    parser.add_argument("--client-timeout", type=float, default=2.0, help="ECS_WRITE_TIMEOUT of the workers")
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server (admin connection)")
    parser.add_argument("--database", default="penaltypay_bench_chaos")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--deadline", type=float, default=3600, help="give up after this many seconds")
    args = parser.parse_args()
    cases = args.cases or max(10, args.payments // 10)
    log_dir = Path(tempfile.mkdtemp(prefix="ecs-chaos-bench-"))

    timeout_ms = int(args.client_timeout * 1000)
    faults = {
        "latency_ms": [0, 50],
        "tail_ms": [timeout_ms + 200, timeout_ms + 800],
        "tail_probability": 0.01,
        "timeout_after_commit": args.fault_rate,
        "hang_seconds": args.client_timeout + 0.5,
        "reset_before_commit": args.fault_rate,
        "reset_after_commit": args.fault_rate,
        "http_500_without_fault": args.fault_rate,
        "seed": args.seed,
    }

    with fresh_database(args.server_url, args.database, keep=args.keep_database) as url:
        from penaltypay.kernel.clock import london_date
        from standins.chaos import Workers, build_scenario, enqueue, verify, worker_env

        now = datetime.now(UTC)
        scenario = build_scenario(
            seed=args.seed,
            cases=cases,
            payments=args.payments,
            refund_ratio=args.refund_ratio,
            today=london_date(now),
            now=now,
        )
        faults["fault_for_case"] = scenario.fault_for_case
        total = len(scenario.events)
        print(
            f"scenario: {scenario.payments} payments, {scenario.refunds} refunds on {cases} cases "
            f"({len(scenario.deliberate_exceptions)} meant to stop for a person); "
            f"{args.workers} workers x {args.concurrency} threads; logs in {log_dir}",
            flush=True,
        )

        sim = SimulatorProcess(faults, log_dir / "simulator.log")
        workers = None
        try:
            sim.put_cases(scenario.cases)
            t0 = time.monotonic()
            enqueue(scenario.events)
            analyze_outbox()
            print(f"enqueued {total} events in {time.monotonic() - t0:.1f}s", flush=True)

            env = worker_env(
                database_url=url,
                ecs_url=sim.url,
                write_timeout=args.client_timeout,
                lease_seconds=max(10.0, 3 * args.client_timeout),
                backoff_base=0.5,
                backoff_cap=5.0,
                breaker_min_open=1.0,
                breaker_max_open=5.0,
                settle_seconds=args.client_timeout + 3.0,
            )
            workers = Workers(env, log_dir, concurrency=args.concurrency)
            started = time.monotonic()
            for n in range(args.workers):
                workers.start(f"w{n}")
            killed = unavailable = refused = False
            last_print = 0.0
            while True:
                counts = outbox_counts()
                done = counts["sent"] + counts["exception"]
                if not killed and done >= total * 0.3:
                    workers.kill("w0")
                    workers.start("w0-replacement")
                    killed = True
                    progress(started, counts, total, "SIGKILLed worker w0, started a replacement")
                if killed and not unavailable and done >= total * 0.5:
                    sim.set_faults(**faults, unavailable_for_seconds=5)
                    unavailable = True
                    progress(started, counts, total, "ECS SERVICE_UNAVAILABLE for 5 s")
                if unavailable and not refused and done >= total * 0.7:
                    sim.set_faults(**faults, refuse_connections_for_seconds=5)
                    refused = True
                    progress(started, counts, total, "ECS refusing connections for 5 s")
                if counts["pending"] == 0:
                    break
                if time.monotonic() - last_print >= 10:
                    progress(started, counts, total)
                    last_print = time.monotonic()
                if not workers.alive():
                    print("every worker died:\n" + workers.tail(), file=sys.stderr)
                    return 2
                if time.monotonic() - started > args.deadline:
                    print(f"gave up after {args.deadline} s", file=sys.stderr)
                    break
                time.sleep(0.5)
            wall = time.monotonic() - started
            progress(started, counts, total, "drained")
            workers.stop_all()
            workers = None
            sim.set_faults()
            verdict = verify(scenario, sim.ledgers())
        finally:
            if workers is not None:
                workers.stop_all()
            sim.stop()

    print()
    meant = [e for e in scenario.events if e.key not in scenario.deliberate_exceptions]
    print(
        f"payments sent:     {verdict.payments_sent} of {sum(e.kind == 'PAYMENT' for e in meant)} meant to reach "
        f"ECS (refunds sent: {verdict.refunds_sent} of {sum(e.kind == 'REFUND' for e in meant)})"
    )
    print(f"duplicates:        {verdict.duplicates}")
    print(f"missing:           {verdict.missing}")
    print(f"order violations:  {verdict.order_violations}")
    print(f"unexpected lines:  {verdict.unexpected}")
    print(f"exceptions:        {counts['exception']} (deliberate: {len(scenario.deliberate_exceptions)})")
    print(
        f"wall time:         {wall:.1f}s ({verdict.sent / wall:.1f} events/s, "
        f"{args.workers} workers x {args.concurrency} threads, 1 SIGKILLed and replaced)"
    )
    print_verdict(verdict)
    good = verdict.ok and counts["exception"] == len(scenario.deliberate_exceptions) and counts["pending"] == 0
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
