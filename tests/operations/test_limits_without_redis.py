"""From outside, as `make run` serves (no Redis, two gunicorn processes on the embedded
database): five declined cards on one penalty pause it for every following attempt,
whichever process answers — each process used to keep its own count and pause."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.infrastructure import start_web, stop_web
from tests.keeper_http import Keeper
from tests.providers import API_KEY, WEBHOOK_SECRET

pytestmark = [
    pytest.mark.django_db(transaction=True),
]

DECLINED = "4000000000000002"


def test_five_declines_pause_the_penalty_in_every_process(put_case, ecs, provider, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default is SQLite without Redis: the SQLite pass runs it")
    case = put_case(reference="70000991", vrm="CT99EST")
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    env.update(
        PENALTYPAY_ENV="test",
        DATABASE_URL=f"sqlite:///{connection.settings_dict['NAME']}",
        PENALTYPAY_VAR_DIR=str(tmp_path / "var"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        ECS_URL=ecs.url,
        PAY_API_URL=provider.base_url,
        PAY_API_KEY=API_KEY,
        PAY_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TRUSTED_PROXY_COUNT="1",
        LOG_LEVEL="WARNING",
    )
    (tmp_path / "prometheus").mkdir()
    web, base = start_web(env, tmp_path / "web.log", workers=2, threads=2)
    try:
        declined = [
            Keeper(base, case.reference, case.vrm, address=f"203.0.113.{n + 1}").pay(card=DECLINED) for n in range(5)
        ]
        later = [Keeper(base, case.reference, case.vrm, address=f"198.51.100.{n + 1}").pay() for n in range(4)]
    finally:
        stop_web(web)
    assert all(visit.gave_up and "ended on" in visit.gave_up for visit in declined), [v.gave_up for v in declined]
    # Every later attempt, on either process, meets the pause instead of the card page.
    assert [visit.gave_up for visit in later] == ["card page (429)"] * 4, (tmp_path / "web.log").read_text()[-3000:]
