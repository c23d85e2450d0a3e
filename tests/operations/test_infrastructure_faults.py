"""The service through its own infrastructure failing, run as production runs it (`penaltypay
web` under gunicorn and a `penaltypay worker`, PostgreSQL, Redis): forty keepers paying
while the machine's PostgreSQL is restarted (every session cut, as in a failover) and then
Redis is stopped for ten seconds. No keeper is ever served a server error (a "try again
shortly" page is what they get, and they do), every keeper's penalty is paid exactly once,
and every payment reaches ECS exactly once."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from penaltypay.ecs.models import OutboxEvent
from penaltypay.kernel.clock import london_date
from penaltypay.payments.models import Payment
from standins.chaos import Workers, chaos_case
from tests.infrastructure import (
    PrivateRedis,
    database_url,
    postgresql_cluster,
    redis_available,
    restart_postgresql,
    service_env,
    start_web,
    stop_web,
)
from tests.keeper_http import Keeper

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.serial, pytest.mark.django_db(transaction=True)]

KEEPERS = 40
REDIS_AWAY_SECONDS = 10
DEADLINE_SECONDS = 240


def test_keepers_pay_through_a_postgresql_restart_and_redis_stopping(ecs, provider, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("restarts the machine's PostgreSQL: the PostgreSQL pass")
    if postgresql_cluster() is None or not redis_available():
        pytest.skip("needs pg_ctlcluster as root and redis-server (the CI machine has both)")
    provider.configure(rate_limit_per_second=0)
    today = london_date(datetime.now(UTC))
    cases = [chaos_case(f"{94_000_000 + i:08d}", today) for i in range(KEEPERS)]
    for case in cases:
        ecs.put_case(case)
    cache = PrivateRedis()
    cache.start()
    env = web_env = service_env(
        database_url=database_url(),
        ecs=ecs,
        provider=provider,
        redis_url=cache.url,
        home=tmp_path,
        extra={"DATABASE_CONN_MAX_AGE": "60"},  # kept connections (without a pool): what a restart breaks
    )
    # Rounds every second: a payment a request left half-made at the restart is settled soon.
    workers = Workers(env, tmp_path / "workers", concurrency=4, interval=1)
    web, base = start_web(web_env, tmp_path / "web.log", workers=2, threads=8)
    confirmed = Counter()
    try:
        workers.start("worker")

        def one(n: int):
            time.sleep(n * 0.15)  # keepers arrive over six seconds, and are still arriving at the restart
            keeper = Keeper(base, cases[n].reference, cases[n].vrm, address=f"10.9.0.{n + 1}")
            visit = keeper.pay()
            if visit.confirmed_reference:
                confirmed["keepers"] += 1
            return visit

        with ThreadPoolExecutor(max_workers=KEEPERS) as pool:
            futures = [pool.submit(one, n) for n in range(KEEPERS)]
            deadline = time.monotonic() + 60
            while confirmed["keepers"] < 8 and time.monotonic() < deadline:
                time.sleep(0.1)
            away = restart_postgresql()
            time.sleep(1)
            cache.stop()
            time.sleep(REDIS_AWAY_SECONDS)
            cache.start()
            visits = [f.result(timeout=DEADLINE_SECONDS) for f in futures]

        connections.close_all()  # this process's own connection was cut by the restart too
        started = time.monotonic()
        while OutboxEvent.objects.filter(status=OutboxEvent.PENDING).exists():
            assert workers.alive(), workers.tail()
            assert time.monotonic() - started < 120, f"outbox did not drain\n{workers.tail()}"
            time.sleep(0.5)
    finally:
        connections.close_all()  # and the test's teardown needs a live one, whatever happened
        stop_web(web)
        workers.stop_all()
        cache.stop()

    server_errors = [error for v in visits for error in v.server_errors]
    assert server_errors == [], server_errors
    assert [v.gave_up for v in visits if v.gave_up] == []
    paid = Payment.objects.filter(status="success")
    per_case = Counter(paid.values_list("lines__case_reference", flat=True))
    assert per_case == dict.fromkeys((c.reference for c in cases), 1), "each penalty paid exactly once"
    assert {v.confirmed_reference for v in visits} == set(paid.values_list("reference", flat=True))
    for case in cases:
        lines = [(e.kind, e.payment_reference) for e in ecs.ledger(case.reference) if e.kind == "PAYMENT"]
        (payment,) = paid.filter(lines__case_reference=case.reference)
        assert lines == [("PAYMENT", payment.reference)], (case.reference, lines)
    print(
        f"PostgreSQL away {away:.1f} s, Redis away {REDIS_AWAY_SECONDS} s: "
        f"{KEEPERS} keepers paid, told to try again {sum(v.told_to_wait for v in visits)} times, no server error"
    )
