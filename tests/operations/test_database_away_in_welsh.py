"""The database out of reach (a failover, connections refused) in the middle of a Welsh
keeper's visit: every page answers "try again shortly" (503) in Welsh — the session, where
the choice is kept, cannot be read then — and the service serves again when the database is
back. Run as production runs it (`penaltypay web`, a connection pool), with the network to
PostgreSQL cut by a proxy the test controls."""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import urlsplit

import pytest
import requests
from django.db import connection

from tests.infrastructure import TcpProxy, database_url, start_web, stop_web
from tests.keeper_http import CSRF

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.serial, pytest.mark.django_db(transaction=True)]

AWAY_SECONDS = 25  # longer than the pool's give-up (10 s): its doubled waits would reach 16 s
WELSH_UNAVAILABLE = "Mae’n ddrwg gennym, nid yw’r gwasanaeth ar gael am ychydig"


def test_a_welsh_keeper_is_told_in_welsh_to_try_again_while_the_database_is_out_of_reach(ecs, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("production's database and pool: the PostgreSQL pass")
    real = urlsplit(database_url())
    proxy = TcpProxy([(real.hostname, real.port or 5432)])
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "penaltypay.settings",
        "PENALTYPAY_ENV": "test",
        "DATABASE_URL": real._replace(netloc=f"{real.username}@127.0.0.1:{proxy.port}").geturl(),
        "DATABASE_POOL_TIMEOUT": "2",
        "DATABASE_CONNECT_TIMEOUT": "2",
        "ECS_URL": ecs.url,
        "DEBUG": "0",
        "PENALTYPAY_VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    env.pop("PYTEST_CURRENT_TEST", None)
    web, base = start_web(env, tmp_path / "web.log", workers=1, threads=4)
    keeper = requests.Session()
    try:
        assert 'lang="cy"' in keeper.get(base + "/find-your-penalty?lang=cy", timeout=10).text
        token = CSRF.search(keeper.get(base + "/find-your-penalty", timeout=10).text).group(1)

        proxy.backends = []  # new connections refused
        proxy.cut()  # and those the pool holds are gone
        cut_at = time.monotonic()
        page = keeper.get(base + "/find-your-penalty", timeout=20)
        assert page.status_code == 503 and page.headers["Retry-After"]
        assert 'lang="cy"' in page.text and WELSH_UNAVAILABLE in page.text
        sent = keeper.post(
            base + "/find-your-penalty",
            {"csrfmiddlewaretoken": token, "reference": "70000001", "registration": "AB12CDE"},
            timeout=20,
        )
        assert sent.status_code == 503 and WELSH_UNAVAILABLE in sent.text  # never a 500, in any step
        time.sleep(max(0.0, AWAY_SECONDS - (time.monotonic() - cut_at)))  # a failover's length

        proxy.backends = [(real.hostname, real.port or 5432)]
        # The pool's back-off after a long outage is cut short (reconnect_timeout): a keeper
        # pressing refresh is served again within seconds, told "try again" until then.
        back = time.monotonic()
        while (again := keeper.get(base + "/find-your-penalty", timeout=20)).status_code == 503:
            assert time.monotonic() - back < 4, "not serving again 4 s after the database came back"
            time.sleep(0.5)
        assert again.status_code == 200 and 'lang="cy"' in again.text  # the session, and Welsh, are back
        print(f"serving again {time.monotonic() - back:.1f} s after the database came back")
    finally:
        proxy.close()
        stop_web(web)
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGKILL)
