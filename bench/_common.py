"""Shared set-up of the ECS benchmarks: a throw-away PostgreSQL database, Django pointed at
it, and the ECS simulator as its own process (it must not share a GIL with anyone).

Not part of the test suite. Run the scripts beside this file with the project's venv.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def fresh_database(server_url: str, name: str, *, keep: bool = False):
    """Create database `name` on the server (dropping an old one), migrate it, yield its URL,
    and drop it afterwards unless `keep`."""
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise SystemExit(f"bad database name {name!r}")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = database_url(server_url, name)
    os.environ["DATABASE_URL"] = url
    os.environ["PENALTYPAY_ENV"] = "test"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "penaltypay.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    try:
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class SimulatorProcess:
    """`python -m standins.ecs` with a separate control port."""

    def __init__(self, faults: dict | None = None, log_path: Path | None = None):
        args = [sys.executable, "-m", "standins.ecs", "--port", "0", "--control-port", "0", "--log-level", "WARNING"]
        if faults:
            args += ["--faults", json.dumps(faults)]
        self._log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            args, cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True
        )
        lines = [self.process.stdout.readline() for _ in range(3)]
        try:
            self.url = re.search(r"(http://\S+/ecs/v1)", lines[0]).group(1)
            self.control = re.search(r"(http://\S+/_control)/health", lines[2]).group(1)
        except AttributeError:
            self.stop()
            raise SystemExit(f"the simulator did not start: {lines}") from None
        self._session = requests.Session()

    def put_cases(self, cases, batch: int = 2000) -> None:
        from standins.ecs.model import case_to_json

        for start in range(0, len(cases), batch):
            payload = [case_to_json(c) for c in cases[start : start + batch]]
            response = self._session.put(self.control + "/cases", json=payload, timeout=60)
            response.raise_for_status()

    def set_faults(self, **faults) -> None:
        response = self._session.post(self.control + "/faults", json=faults, timeout=30)
        if response.status_code != 200:
            raise SystemExit(f"the simulator refused the fault plan {faults}: {response.text}")

    def health(self) -> dict:
        return self._session.get(self.control + "/health", timeout=30).json()

    def ledgers(self) -> dict[str, list[tuple[str, str]]]:
        data = self._session.get(self.control + "/ledger", timeout=300).json()
        return {
            ref: [(e["kind"], e["refund_reference"] or e["payment_reference"]) for e in entries]
            for ref, entries in data.items()
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not subprocess.DEVNULL:
            self._log.close()


def analyze_outbox() -> None:
    """What autovacuum would do within a minute of a bulk insert: without statistics the
    planner takes a freshly filled table for an empty one and claims events the slow way."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ecs_outbox")


def outbox_counts() -> dict[str, int]:
    from django.db.models import Count

    from penaltypay.ecs.models import OutboxEvent

    counts = {"pending": 0, "sent": 0, "exception": 0, "resolved": 0}
    for row in OutboxEvent.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def progress(started: float, counts: dict[str, int], total: int, extra: str = "") -> None:
    elapsed = time.monotonic() - started
    print(
        f"  {elapsed:7.1f}s  sent {counts['sent']:>6}/{total}  pending {counts['pending']:>6}  "
        f"exceptions {counts['exception']}  {extra}",
        flush=True,
    )


def print_verdict(verdict) -> None:
    data = asdict(verdict)
    details = data.pop("details")
    print(json.dumps(data))
    for line in details:
        print("  " + line)


def cpu_count() -> int:
    return os.cpu_count() or 1
