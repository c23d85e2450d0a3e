"""A release never stops a payment (issue 37, docs/runbook.md "Releases"): the previous
release (tests/releases.py says which) serves keepers on PostgreSQL with its web and two
workers; this release's migrations are applied under them; this release's web and workers
start beside the old ones and both serve behind one load balancer; the old ones are taken
out and stopped — as a Kubernetes rollout runs it. No keeper's journey fails, every penalty
is paid once and reaches ECS once, no delivery is left behind, and this release's
connections stay within its pools."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
from django.db import connection

from penaltypay.kernel.clock import london_date
from standins.chaos import Workers, chaos_case
from tests.infrastructure import (
    PrivateRedis,
    TcpProxy,
    database_url,
    redis_available,
    service_env,
    start_web,
    stop_web,
)
from tests.keeper_http import Keeper
from tests.releases import ROOT, previous_release, tree_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.serial, pytest.mark.django_db(transaction=True)]

KEEPERS = 36
POOL = 5  # DATABASE_POOL_SIZE, as the manifests set it


def _run(argv: list[str], env: dict, cwd, log) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "penaltypay.cli", *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


class ConnectionWatch:
    """The most connections each release held at once (by application_name), sampled."""

    def __init__(self, url: str):
        self.url, self.most = url, Counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as db:
            while not self.stop.wait(0.25):
                rows = db.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "GROUP BY 1"
                ).fetchall()
                now = Counter(dict(rows))
                now["both"] = sum(now[name] for name in ("previous", "current"))
                for name, count in now.items():
                    self.most[name] = max(self.most[name], count)


def test_the_previous_release_and_this_one_serve_side_by_side_through_a_rollout(ecs, provider, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("a rollout on production's database: the PostgreSQL pass")
    if not redis_available():
        pytest.skip("needs redis-server (the CI machine has it)")
    release = previous_release()
    old_tree = tree_of(release, tmp_path / "previous")
    provider.configure(rate_limit_per_second=0)
    today = london_date(datetime.now(UTC))
    cases = [chaos_case(f"{96_000_000 + i:08d}", today) for i in range(KEEPERS)]
    for case in cases:
        ecs.put_case(case)

    server = database_url().rpartition("/")[0]
    name = f"{connection.settings_dict['NAME']}_release"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    cache = PrivateRedis()
    cache.start()

    def env_of(release_name: str, tree) -> dict:
        return service_env(
            database_url=f"{server}/{name}?application_name={release_name}",
            ecs=ecs,
            provider=provider,
            redis_url=cache.url,
            home=tmp_path / release_name,
            extra={"PYTHONPATH": str(tree)},
        )

    old_env, new_env = env_of("previous", old_tree), env_of("current", ROOT)
    _run(["migrate", "--noinput"], old_env, old_tree, tmp_path / "previous" / "migrate.log")
    watch = ConnectionWatch(f"{server}/{name}")
    old_workers = Workers(old_env, tmp_path / "previous" / "workers", concurrency=4, interval=1, cwd=old_tree)
    new_workers = Workers(new_env, tmp_path / "current" / "workers", concurrency=4, interval=1)
    old_web, old_base = start_web(old_env, tmp_path / "previous" / "web.log", workers=2, threads=16, cwd=old_tree)
    new_web = None
    proxy = TcpProxy([("127.0.0.1", urlsplit(old_base).port)])
    base = f"http://127.0.0.1:{proxy.port}"
    confirmed = Counter()
    timeline: list[str] = []
    started = time.monotonic()

    def note(what: str) -> None:
        timeline.append(f"{time.monotonic() - started:5.1f}s {what} (paid so far: {confirmed['keepers']})")

    try:
        old_workers.start("a")
        old_workers.start("b")
        note(f"previous release ({release.name}) serving: /healthz {requests.get(old_base + '/healthz').json()}")

        def one(n: int):
            time.sleep(n * 0.5)  # keepers arrive all through the rollout
            keeper = Keeper(base, cases[n].reference, cases[n].vrm, address=f"10.7.0.{n + 1}")
            visit = keeper.pay()
            if visit.confirmed_reference:
                confirmed["keepers"] += 1
            return visit

        with ThreadPoolExecutor(max_workers=KEEPERS) as pool:
            futures = [pool.submit(one, n) for n in range(KEEPERS)]
            while confirmed["keepers"] < 4 and time.monotonic() - started < 60:
                time.sleep(0.1)
            note("migrating to this release's schema")
            _run(["migrate", "--noinput"], new_env, ROOT, tmp_path / "current" / "migrate.log")
            note("migrated")
            new_web, new_base = start_web(new_env, tmp_path / "current" / "web.log", workers=2, threads=16)
            new_workers.start("c")
            new_workers.start("d")
            proxy.backends = [*proxy.backends, ("127.0.0.1", urlsplit(new_base).port)]
            note("both releases serving")
            time.sleep(5)
            proxy.backends = proxy.backends[1:]  # the old pods are out of the Service's endpoints
            note("previous release out of service")
            time.sleep(1)
            stop_web(old_web)
            old_workers.stop_all()
            note("previous release stopped")
            visits = [f.result(timeout=240) for f in futures]
        note("every keeper done")

        with psycopg.connect(f"{server}/{name}", autocommit=True) as db:
            deadline = time.monotonic() + 90
            while db.execute("SELECT count(*) FROM ecs_outbox WHERE status = 'pending'").fetchone()[0]:
                assert time.monotonic() < deadline, "deliveries left behind\n" + new_workers.tail()
                time.sleep(0.5)
            paid = db.execute(
                "SELECT l.case_reference, p.reference FROM payment p JOIN payment_line l ON l.payment_id = p.id "
                "WHERE p.status = 'success'"
            ).fetchall()
            stopped = db.execute("SELECT count(*) FROM ecs_outbox WHERE status <> 'sent'").fetchone()[0]
        note("outbox drained")
    finally:
        watch.stop.set()
        proxy.close()
        for web in (old_web, new_web):
            if web is not None:
                stop_web(web)
        old_workers.stop_all()
        new_workers.stop_all()
        cache.stop()
        watch.thread.join(5)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    report = "\n".join(timeline) + f"\nmost connections at once: {dict(watch.most)}"
    print(report)
    assert [e for v in visits for e in v.server_errors] == [], report
    assert [v.gave_up for v in visits if v.gave_up] == [], report
    per_case = Counter(case for case, _ in paid)
    assert per_case == dict.fromkeys((c.reference for c in cases), 1), report  # each penalty paid once
    assert {v.confirmed_reference for v in visits} == {reference for _, reference in paid}, report
    assert stopped == 0, report  # every delivery sent, none stopped for a person
    for case in cases:
        ledger = [(e.kind, e.payment_reference) for e in ecs.ledger(case.reference) if e.kind == "PAYMENT"]
        ((_, reference),) = [row for row in paid if row[0] == case.reference]
        assert ledger == [("PAYMENT", reference)], (case.reference, ledger, report)  # in ECS once
    # This release's web (two processes) and two workers, and its migration: within their pools.
    assert watch.most["current"] <= 4 * POOL + 1, report
