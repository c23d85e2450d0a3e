"""What a rate-limit count costs in each shared store (ADR 0026): the service's own database
(the embedded default without Redis: SQLite, and PostgreSQL for comparison) and Redis
(production). For each store, one process counting alone (µs a count), then two processes
counting at once into the same key (counts a second, and whether any count was lost).

    .venv/bin/python bench/shared_counts_bench.py [--counts 2000]

Needs the local PostgreSQL and Redis for their rows; prints a table and the ratios to Redis.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_SERVER_URL, REPO, fresh_database  # noqa: E402

CHILD = """
import os, sys, time
import django
django.setup()
from django.core.management import call_command
if sys.argv[1] == "migrate":
    call_command("migrate", verbosity=0)
    sys.exit()
from penaltypay import ratelimits
n, key = int(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
for _ in range(n):
    ratelimits.count(key, 600)
elapsed = time.perf_counter() - started
print(elapsed, ratelimits.count(key, 600, by=0))
"""


def child(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return done.stdout


def measure(name: str, env: dict, counts: int) -> dict:
    child(env, "migrate")
    alone, _ = child(env, "count", str(counts), f"bench:{uuid.uuid4().hex}").split()
    key = f"bench:{uuid.uuid4().hex}"
    started = time.perf_counter()
    both = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, "count", str(counts), key],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    finals = [int(process.communicate(timeout=600)[0].split()[1]) for process in both]
    wall = time.perf_counter() - started
    return {
        "store": name,
        "us_per_count": float(alone) / counts * 1e6,
        "two_processes_per_second": 2 * counts / wall,
        "lost": 2 * counts - max(finals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", type=int, default=2000)
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    base.update(PENALTYPAY_ENV="test", DJANGO_SETTINGS_MODULE="penaltypay.settings", LOG_LEVEL="WARNING")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite = {**base, "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "PENALTYPAY_VAR_DIR": folder}
        rows.append(measure("database: SQLite (the embedded default)", sqlite, args.counts))
        with fresh_database(args.server_url, "penaltypay_bench_counts") as url:
            postgres = {**base, "DATABASE_URL": url, "PENALTYPAY_VAR_DIR": folder}
            rows.append(measure("database: PostgreSQL", postgres, args.counts))
        redis = {**sqlite, "REDIS_URL": args.redis_url}
        rows.append(measure("Redis (production)", redis, args.counts))
    print(f"{'store':<42} {'µs a count':>11} {'2 processes: counts/s':>22} {'lost':>5}")
    for row in rows:
        print(
            f"{row['store']:<42} {row['us_per_count']:>11.0f} {row['two_processes_per_second']:>22.0f} {row['lost']:>5}"
        )
    redis_row = rows[-1]
    for row in rows[:-1]:
        print(f"{row['store']}: {row['us_per_count'] / redis_row['us_per_count']:.1f}× Redis's time a count")


if __name__ == "__main__":
    main()
