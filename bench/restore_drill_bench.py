#!/usr/bin/env python
"""Restore drill benchmark: a database holding N successful payments (default 500,000,
about two years at the service's expected volume), each with its ECS outbox event and
its history, backed up, restored and checked by `penaltypay restore-drill`. Prints the
size of the dump and the time of each step: the figures behind the runbook's RTO.

Seeding (bulk SQL) is not what is measured. Exit status 0 when the restored copy passes
every integrity check. Not a timed test: see bench/README.md.

    .venv/bin/python bench/restore_drill_bench.py [--payments 500000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import DEFAULT_SERVER_URL, REPO, fresh_database

SEED = """
INSERT INTO payment (id, reference, case_reference, case_type, amount_pence, description, email, language,
    channel, created_by, status, provider_payment_id, provider_status, failure_code, psp_reference, card_brand,
    wallet_type, card_last_four, created_at, updated_at, authorised_at, finished_at, ecs_recorded_at, request_id)
SELECT md5(i::text)::uuid, 'PP-BENCH-' || i, lpad((70000000 + i %% 900000)::text, 8, '0'), '7A', 4000,
    'Penalty ' || i, '', 'en', 'ONLINE', '', 'success', 'p' || i, 'success', '', 'psp' || i, 'Visa', '', '1111',
    now() - (i || ' minutes')::interval, now(), now() - (i || ' minutes')::interval,
    now() - (i || ' minutes')::interval, now(), ''
FROM generate_series(1, %(n)s) AS i;
INSERT INTO ecs_outbox (case_reference, kind, payment_reference, refund_reference, amount_pence,
    effective_at, channel, psp_reference, status, attempts, outcome_unknown, next_attempt_at, lease_owner,
    last_error, exception_reason, receipt_number, created_at, sent_at, handled_by, handling_note, request_id)
SELECT case_reference, 'PAYMENT', reference, '', amount_pence, authorised_at, 'ONLINE', psp_reference, 'sent', 1,
    false, now(), '', '', '', 'R' || reference, now(), now(), '', '', ''
FROM payment;
INSERT INTO payment_event (payment_id, from_status, to_status, source, at)
SELECT id, 'in_progress', 'success', 'webhook', finished_at FROM payment;
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--payments", type=int, default=500_000)
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--database", default="penaltypay_bench_restore")
    args = parser.parse_args()
    with fresh_database(args.server_url, args.database) as url:
        from django.db import connection

        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(SEED, {"n": args.payments})
            cursor.execute("ANALYZE")
        print(f"seeded {args.payments:,} payments in {time.monotonic() - started:.0f} s (not measured)")
        connection.close()
        drill = subprocess.run(
            [sys.executable, "-m", "penaltypay.cli", "restore-drill", "--json"],
            env={**os.environ, "DATABASE_URL": url},
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        if drill.returncode == 2 or not drill.stdout:
            print(drill.stderr)
            return 2
        result = json.loads(drill.stdout)
    seconds = result["seconds"]
    print(f"dump      {seconds['dump']:8.1f} s   {result['dump_bytes'] / 1e6:,.1f} MB (pg_dump -Fc)")
    print(f"restore   {seconds['restore']:8.1f} s   (pg_restore into a scratch database)")
    print(f"check     {seconds['check']:8.1f} s   (penaltypay check-integrity on the copy)")
    print(f"total     {sum(seconds.values()):8.1f} s   copy whole: {result['ok']}")
    for check in result["integrity"]["checks"]:
        print(f"  {'ok  ' if check['ok'] else 'FAIL'} {check['name']}: {check['detail']}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
