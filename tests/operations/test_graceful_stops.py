"""Stopping a pod never fails a keeper or a delivery (docs/adr/0029): a web process being
stopped is taken out of service first (`penaltypay drain`: /readyz 503 while it still
serves), then finishes every request it holds; a worker stopped mid-delivery finishes what
it holds and stops, and what it had not started is delivered by another, exactly once. Run
as production runs them (`penaltypay web` under gunicorn, `penaltypay worker`), on
PostgreSQL, with ECS slow, and the web's connections bounded by its pool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest
import requests
from django.db import connection

from penaltypay.ecs.models import OutboxEvent
from penaltypay.kernel.clock import london_date
from standins.chaos import Workers, build_scenario, chaos_case, enqueue, verify, worker_env
from tests.infrastructure import database_url, start_web
from tests.keeper_http import CSRF

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.serial, pytest.mark.django_db(transaction=True)]

POOL = 3
ECS_SECONDS = 2.5


def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("production's process shape: the PostgreSQL pass")


def _web_env(tmp_path, ecs, name: str) -> dict[str, str]:
    env = worker_env(
        database_url=database_url() + f"?application_name={name}", ecs_url=ecs.url, write_timeout=2.0, lease_seconds=5.0
    )
    env.update(
        DEBUG="0",
        TRUSTED_PROXY_COUNT="1",
        LOOKUP_RATE_LIMIT_PER_ADDRESS="1000",
        LOOKUP_RATE_LIMIT_PER_REFERENCE="1000",
        ECS_LOOKUP_TIMEOUT="10",
        DATABASE_POOL_SIZE=str(POOL),
        PENALTYPAY_VAR_DIR=str(tmp_path / "var"),
        PENALTYPAY_DRAIN_FILE=str(tmp_path / "draining"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        WEB_DRAIN_SECONDS="1",
        WEB_GRACEFUL_SECONDS="20",
    )
    return env


def _connections_named(name: str) -> int:
    with psycopg.connect(database_url(), autocommit=True) as db:
        return db.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name]).fetchone()[0]


def _look_up(base: str, case) -> int:
    """One keeper's look-up (ECS takes its time): the status of the answer to the form."""
    session = requests.Session()
    session.headers["X-Forwarded-For"] = f"10.8.0.{int(case.reference) % 200 + 1}"
    page = session.get(base + "/find-your-penalty", timeout=30)
    token = CSRF.search(page.text).group(1)
    form = {"csrfmiddlewaretoken": token, "reference": case.reference, "registration": case.vrm}
    return session.post(base + "/find-your-penalty", form, timeout=30, allow_redirects=False).status_code


def test_a_web_process_stopped_mid_request_is_taken_out_of_service_first_and_finishes_every_request(ecs, tmp_path):
    _postgresql_only()
    today = london_date(datetime.now(UTC))
    cases = [chaos_case(f"{95_000_000 + i:08d}", today) for i in range(8)]
    for case in cases:
        ecs.put_case(case)
    env = _web_env(tmp_path, ecs, "web-being-stopped")
    web, base = start_web(env, tmp_path / "web.log", workers=1, threads=8)
    try:
        assert requests.get(base + "/readyz", timeout=5).status_code == 200
        ecs.set_faults(latency_ms=[int(ECS_SECONDS * 1000)] * 2)
        with ThreadPoolExecutor(max_workers=len(cases)) as keepers:
            answers = [keepers.submit(_look_up, base, case) for case in cases]
            time.sleep(1.0)  # every look-up is now waiting on ECS
            # Eight requests at once, each kept connection a thread's own without a pool: here at most POOL.
            assert _connections_named("web-being-stopped") <= POOL
            drain = subprocess.Popen(
                [sys.executable, "-m", "penaltypay.cli", "drain"], env=env, stdout=subprocess.PIPE, text=True
            )
            assert "draining" in drain.stdout.readline()  # the pod is marked (PYTHONUNBUFFERED: said at once)
            ready = requests.get(base + "/readyz", timeout=5)
            assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
            assert requests.get(base + "/find-your-penalty", timeout=5).status_code == 200  # still serving
            assert drain.wait(10) == 0
            stopping = time.monotonic()
            os.kill(web.pid, signal.SIGTERM)  # as Kubernetes does once preStop has returned
            statuses = [answer.result(timeout=30) for answer in answers]
        assert web.wait(25) == 0, (tmp_path / "web.log").read_text()[-3000:]
    finally:
        ecs.set_faults()
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
    assert statuses == [302] * len(cases)  # every keeper's look-up finished, on to their penalty
    assert time.monotonic() - stopping < 20  # within the grace period (WEB_GRACEFUL_SECONDS)


def test_a_worker_stopped_mid_delivery_finishes_what_it_holds_and_another_delivers_the_rest_once(ecs, tmp_path):
    _postgresql_only()
    now = datetime.now(UTC)
    scenario = build_scenario(
        seed=7, cases=12, payments=36, refund_ratio=0.0, today=london_date(now), now=now, deliberate=False
    )
    for case in scenario.cases:
        ecs.put_case(case)
    ecs.set_faults(latency_ms=[700, 900])
    enqueue(scenario.events)
    env = worker_env(database_url=database_url(), ecs_url=ecs.url, write_timeout=3.0, lease_seconds=30.0)
    workers = Workers(env, tmp_path / "workers", concurrency=4, interval=1)
    try:
        first = workers.start("first")
        deadline = time.monotonic() + 60
        while OutboxEvent.objects.filter(status=OutboxEvent.SENT).count() < 6:
            assert time.monotonic() < deadline, workers.tail()
            time.sleep(0.1)
        assert OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exclude(lease_owner="").exists()  # mid-delivery
        first.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert first.wait(30) == 0, workers.tail()
        stopped_in = time.monotonic() - stopping
        # It finished what it held: nothing is left leased (its 30 s leases would hold them up).
        leased = OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exclude(lease_owner="")
        assert not leased.filter(lease_expires_at__gt=datetime.now(UTC)).exists()
        workers.start("second")
        deadline = time.monotonic() + 90
        while OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists():
            assert time.monotonic() < deadline, workers.tail()
            time.sleep(0.2)
    finally:
        workers.stop_all()
        ecs.set_faults()
    ledgers = {
        case.reference: [(e.kind, e.refund_reference or e.payment_reference) for e in ecs.ledger(case.reference)]
        for case in scenario.cases
    }
    verdict = verify(scenario, ledgers)
    assert (verdict.duplicates, verdict.missing, verdict.order_violations) == (0, 0, 0), verdict
    assert stopped_in < 10, stopped_in  # well within the pod's 60 s grace
    log = (tmp_path / "workers" / "first.log").read_text()
    assert "outbox event failed" not in log  # no delivery was cut off by the stop
