#!/usr/bin/env python
"""Backlog benchmark: how long a backlog takes to reach ECS once ECS comes back.

20,000 payments are queued while ECS is down (by default it refuses connections; with
--outage unavailable it answers SERVICE_UNAVAILABLE), with the workers already running
and meeting the outage (so their circuit breaker is open, as it would be). Then ECS
returns with 200-800 ms latency per call and the script measures the time to drain.
The workers use production settings (write timeout, lease, back-off, breaker, settle
time) except where a flag says otherwise. Prints the time to drain, the concurrency
used and events/s, and checks the ledger: every payment exactly once, in order per case.

Target (the issue): drain 20,000 in <= 10 minutes on a 2-core machine.

    .venv/bin/python bench/ecs_backlog_bench.py [--payments 20000] [--workers 2] [--concurrency 24]
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
    cpu_count,
    fresh_database,
    outbox_counts,
    print_verdict,
    progress,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--cases", type=int, default=None, help="default: payments / 2 (some cases pay twice)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=24, help="threads per worker process")
    parser.add_argument("--latency-ms", default="200-800", help="ECS latency once it is back: MIN-MAX ms")
    parser.add_argument(
        "--tail-ms", type=int, default=0, help="also a slow tail: 1%% of calls take this long (e.g. 3000; default none)"
    )
    parser.add_argument("--outage", choices=("refuse", "unavailable"), default="refuse")
    parser.add_argument(
        "--outage-seconds", type=float, default=60.0, help="how long ECS stays down (at least as long as queuing takes)"
    )
    parser.add_argument(
        "--breaker-max-open",
        type=float,
        default=None,
        help="ECS_BREAKER_MAX_OPEN_SECONDS for the workers (default: the production setting)",
    )
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL, help="PostgreSQL server (admin connection)")
    parser.add_argument("--database", default="penaltypay_bench_backlog")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--deadline", type=float, default=3600)
    args = parser.parse_args()
    cases = args.cases or max(1, args.payments // 2)
    low, _, high = args.latency_ms.partition("-")
    latency = [int(low), int(high or low)]
    log_dir = Path(tempfile.mkdtemp(prefix="ecs-backlog-bench-"))
    down = {"refuse_connections": True} if args.outage == "refuse" else {"unavailable": True}
    back = {"latency_ms": latency, "seed": args.seed}
    if args.tail_ms:
        back.update(tail_ms=args.tail_ms, tail_probability=0.01)

    with fresh_database(args.server_url, args.database, keep=args.keep_database) as url:
        from django.conf import settings

        from penaltypay.kernel.clock import london_date
        from standins.chaos import Workers, build_scenario, enqueue, verify, worker_env

        now = datetime.now(UTC)
        scenario = build_scenario(
            seed=args.seed,
            cases=cases,
            payments=args.payments,
            refund_ratio=0.0,
            today=london_date(now),
            now=now,
            deliberate=False,
        )
        total = len(scenario.events)
        sim = SimulatorProcess(None, log_dir / "simulator.log")
        workers = None
        try:
            sim.put_cases(scenario.cases)
            sim.set_faults(**down)
            env = worker_env(
                database_url=url,
                ecs_url=sim.url,
                write_timeout=settings.ECS_WRITE_TIMEOUT,
                lease_seconds=settings.ECS_OUTBOX_LEASE_SECONDS,
                backoff_base=settings.ECS_BACKOFF_BASE_SECONDS,
                backoff_cap=settings.ECS_BACKOFF_CAP_SECONDS,
                breaker_min_open=settings.ECS_BREAKER_MIN_OPEN_SECONDS,
                breaker_max_open=args.breaker_max_open or settings.ECS_BREAKER_MAX_OPEN_SECONDS,
                settle_seconds=settings.ECS_UNKNOWN_OUTCOME_SETTLE_SECONDS,
            )
            workers = Workers(env, log_dir, concurrency=args.concurrency)
            print(
                f"{total} payments on {cases} cases; {args.workers} worker processes x {args.concurrency} threads "
                f"= {args.workers * args.concurrency} concurrent ECS calls at most; {cpu_count()} CPUs; "
                f"ECS down ({args.outage}); logs in {log_dir}",
                flush=True,
            )
            outage_started = time.monotonic()
            for n in range(args.workers):
                workers.start(f"w{n}")
            enqueue(scenario.events)
            analyze_outbox()
            queued = time.monotonic() - outage_started
            print(f"queued {total} payments in {queued:.1f}s during the outage", flush=True)
            while time.monotonic() - outage_started < args.outage_seconds:
                time.sleep(0.5)
            counts = outbox_counts()
            if counts["sent"]:
                print(f"warning: {counts['sent']} sent during the outage?", file=sys.stderr)

            sim.set_faults(**back)
            back_at = time.monotonic()
            progress(
                back_at,
                counts,
                total,
                f"ECS is back after {back_at - outage_started:.0f}s: latency "
                f"{latency[0]}-{latency[1]} ms" + (f", tail {args.tail_ms} ms" if args.tail_ms else ""),
            )
            first_sent_after = None
            last_print = 0.0
            while True:
                counts = outbox_counts()
                if first_sent_after is None and counts["sent"]:
                    first_sent_after = time.monotonic() - back_at
                    progress(back_at, counts, total, "first delivery (the breaker's probe succeeded)")
                if counts["pending"] == 0:
                    break
                if time.monotonic() - last_print >= 15:
                    progress(back_at, counts, total)
                    last_print = time.monotonic()
                if not workers.alive():
                    print("every worker died:\n" + workers.tail(), file=sys.stderr)
                    return 2
                if time.monotonic() - back_at > args.deadline:
                    print(f"gave up after {args.deadline} s", file=sys.stderr)
                    break
                time.sleep(0.5)
            drain = time.monotonic() - back_at
            progress(back_at, counts, total, "drained")
            workers.stop_all()
            workers = None
            verdict = verify(scenario, sim.ledgers())
        finally:
            if workers is not None:
                workers.stop_all()
            sim.stop()

    print()
    print(f"payments queued during the outage: {total} on {cases} cases")
    print(
        f"concurrency:        {args.workers} worker processes x {args.concurrency} threads "
        f"= {args.workers * args.concurrency} (on {cpu_count()} CPUs, simulator and PostgreSQL on the same machine)"
    )
    print(
        f"ECS latency:        {latency[0]}-{latency[1]} ms" + (f", 1% tail {args.tail_ms} ms" if args.tail_ms else "")
    )
    print(f"breaker wait:       {first_sent_after or 0:.1f}s from ECS's return to the first delivery")
    print(f"time to drain:      {drain:.1f}s ({drain / 60:.1f} min; target <= 10 min)")
    print(
        f"throughput:         {verdict.sent / drain:.1f} payments/s "
        f"({verdict.sent / max(1.0, drain - (first_sent_after or 0)):.1f}/s after the first delivery)"
    )
    print(f"duplicates:         {verdict.duplicates}")
    print(f"missing:            {verdict.missing}")
    print(f"order violations:   {verdict.order_violations}")
    print_verdict(verdict)
    return 0 if verdict.ok and counts["pending"] == 0 and drain <= 600 else 1


if __name__ == "__main__":
    sys.exit(main())
