#!/usr/bin/env python
"""Reconciliation benchmark: one day of N payments (default 20,000, one per case)
reconciled against the ECS simulator answering in 200-800 ms and the sandbox provider.

Sets up a fresh PostgreSQL database, seeds our payments, the provider's and the ECS
ledgers directly (seeding is not what is measured), then runs `reconcile_day` as the
worker does and prints:

    status (must be balanced), wall time, ECS ledger reads (must be one per case),
    provider search pages, the time per ledger read

Exit status 0 when the day balances with exactly one ECS read per case. Not a timed
test: see bench/README.md. The target is under 10 minutes for 20,000 payments.

    .venv/bin/python bench/reconcile_bench.py [--payments 20000] [--concurrency 16] [--latency 200 800]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timedelta

from _common import DEFAULT_SERVER_URL, fresh_database


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=None, help="RECONCILE_ECS_CONCURRENCY (default: settings)")
    parser.add_argument("--latency", type=int, nargs=2, default=[200, 800], metavar=("MIN_MS", "MAX_MS"))
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--database", default="penaltypay_bench_reconcile")
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()

    with fresh_database(args.server_url, args.database, keep=args.keep_database):
        return run(args)


def run(args) -> int:
    from django.conf import settings

    from penaltypay.adapters.ecs_soap import EcsClient
    from penaltypay.adapters.pay_api import PayClient
    from penaltypay.kernel.clock import LONDON
    from penaltypay.payments.models import Payment
    from penaltypay.reconciliation.run import reconcile_day
    from standins.chaos import chaos_case
    from standins.ecs import EcsSimulator
    from standins.pay import SandboxProvider
    from standins.pay.model import Payment as SandboxPayment

    if args.concurrency:
        settings.RECONCILE_ECS_CONCURRENCY = args.concurrency
    settings.ECS_RESPECT_BATCH_WINDOW = False
    now = datetime.now(LONDON)
    day = (now - timedelta(days=1)).date()
    noon = datetime.combine(day, datetime.min.time(), tzinfo=LONDON) + timedelta(hours=12)
    sim, sandbox = EcsSimulator(), SandboxProvider()
    sim.start(host="127.0.0.1", port=0)
    sandbox.start(host="127.0.0.1", port=0)
    sandbox.configure(rate_limit_per_second=0)
    try:
        seeded = time.monotonic()
        rows = []
        for i in range(args.payments):
            reference, paid_at = f"PP-B{i:07d}", noon + timedelta(seconds=i % 36000)
            case = chaos_case(f"{80_000_000 + i:08d}", day)
            sim.state.put_case(case)
            sim.state.record_payment(case.reference, reference, 4000, paid_at, "ONLINE", f"psp-{i}")
            provider_id = f"bench{i:020d}"
            # Seeding the sandbox's own table directly: creating 20,000 payments over HTTP
            # is not what this benchmark measures.
            sandbox._payments[provider_id] = SandboxPayment(  # noqa: SLF001
                payment_id=provider_id,
                seq=i + 1,
                amount=4000,
                reference=reference,
                description="bench",
                return_url="http://127.0.0.1/x",
                language="en",
                email=None,
                moto=False,
                metadata={"case_reference": case.reference},
                created_at=paid_at,
                status="success",
                provider_id=f"psp-{i}",
            )
            rows.append(
                Payment(
                    reference=reference,
                    first_case_reference=case.reference,
                    case_type="7A",
                    amount_pence=4000,
                    description="bench",
                    status="success",
                    provider_payment_id=provider_id,
                    authorised_at=paid_at,
                    ecs_recorded_at=paid_at,
                )
            )
        Payment.objects.bulk_create(rows, batch_size=2000)
        Payment.objects.update(created_at=noon)
        print(f"seeded {args.payments} payments, cases and ledger lines in {time.monotonic() - seeded:.1f} s")
        sim.set_faults(latency_ms=list(args.latency))
        started = time.monotonic()
        result = reconcile_day(
            day,
            provider=PayClient(sandbox.base_url, "sandbox-api-key", timeout=30.0),
            ecs_factory=lambda: EcsClient(sim.url, timeout=10.0),
            trigger="command",
            by="bench",
        )
        took = time.monotonic() - started
    finally:
        sim.stop()
        sandbox.stop()
    concurrency = settings.RECONCILE_ECS_CONCURRENCY
    pages = -(-args.payments // 500)
    print(f"day {day}: {result.status} {result.problem or ''}")
    print(
        f"payments {args.payments}, cases {result.cases_read}, ECS ledger reads {result.ecs_calls} "
        f"({result.ecs_calls / max(1, result.cases_read):.2f} per case), provider search pages {pages}"
    )
    print(f"ECS latency {args.latency[0]}-{args.latency[1]} ms, {concurrency} reads at once")
    print(
        f"wall time {took:.1f} s ({took / 60:.1f} min; target under 10 min), "
        f"{took / max(1, result.ecs_calls) * 1000:.1f} ms per read overall"
    )
    print(f"counts {result.counts}")
    ok = result.status == "balanced" and result.ecs_calls == result.cases_read == args.payments
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
