"""Shared fixtures. The ECS simulator and the sandbox payment provider (the `standins`
package) run as real local HTTP servers: one of each per test session, reset around every
test that uses them. Fixtures without Django (`sim`, `sandbox`, `ecs_client`,
`pay_client`, `http`) also work under `pytest -p no:django`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.pay_api import PayClient
from tests.factories import late_licensing_case
from tests.providers import API_KEY, FAST_RETRIES, WEBHOOK_SECRET, WebhookReceiver

# The ECS client's timeout in tests: short enough to keep the suite fast, long enough for
# a loaded machine.
CLIENT_TIMEOUT = 0.5


def pytest_configure(config):
    if config.pluginmanager.hasplugin("django"):
        from django.conf import settings

        from tests import database

        database.install()
        # In this process, one kept connection per thread, not the pool: tests start threads
        # of their own that end without giving a connection back. The processes tests start
        # (`penaltypay web`, `penaltypay worker`) use the pool as production does (ADR 0029).
        if settings.DATABASES["default"]["OPTIONS"].pop("pool", None) is not None:
            settings.DATABASES["default"]["CONN_MAX_AGE"] = 60


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    # Rate-limit counters live in the cache; tests must not see each other's.
    if request.config.pluginmanager.hasplugin("django"):
        from django.core.cache import cache

        if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
            cache.clear()  # the embedded default keeps the counts in the database
        from penaltypay import ratelimits

        # ... and a process's own fallback memory (used while the shared store fails: in a
        # test without the database, say) must not carry counts from one test to the next.
        ratelimits._counter.local.clear()
        ratelimits._counter._local_until = 0.0
        from penaltypay.reporting import open_data

        open_data.forget()
        from penaltypay.web import pacing

        pacing.reset_local()  # likewise the provider's turns kept in memory
    yield


# --- the stand-ins ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def ecs_simulator():
    from standins.ecs import EcsSimulator

    simulator = EcsSimulator()
    simulator.start(host="127.0.0.1", port=0)
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def pay_sandbox():
    from standins.pay import SandboxProvider

    sandbox = SandboxProvider()
    sandbox.start(host="127.0.0.1", port=0)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sim(ecs_simulator):
    """The running simulator, freshly seeded with no faults; reset again afterwards to end hung calls."""
    ecs_simulator.reset()
    yield ecs_simulator
    ecs_simulator.reset()


@pytest.fixture
def sandbox(pay_sandbox):
    """The running sandbox, with no payments, deliveries or faults left from other tests."""
    pay_sandbox.reset()
    yield pay_sandbox
    pay_sandbox.reset()


@pytest.fixture
def ecs(sim, settings):
    """The simulator, with penaltypay pointed at it."""
    settings.ECS_URL = sim.url
    settings.ECS_LOOKUP_TIMEOUT = 2.0
    return sim


@pytest.fixture
def provider(sandbox, settings):
    """The sandbox, with penaltypay pointed at it."""
    settings.PAY_API_URL = sandbox.base_url
    settings.PAY_API_KEY = API_KEY
    settings.PAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PAY_TIMEOUT = 3.0
    return sandbox


@pytest.fixture
def ecs_client(sim):
    client = EcsClient(sim.url, timeout=CLIENT_TIMEOUT)
    yield client
    client.close()


@pytest.fixture
def pay_client(sandbox):
    # No automatic pause-and-retry on 429 here: the tests want to see the error.
    client = PayClient(sandbox.base_url, API_KEY, timeout=3.0, rate_limit_retries=0, webhook_secrets=[WEBHOOK_SECRET])
    yield client
    client.close()


@pytest.fixture
def http(sandbox):
    """A requests session authenticated for the sandbox's API."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {API_KEY}"
    yield session
    session.close()


@pytest.fixture
def webhook_receiver(sandbox):
    """A receiver, with the sandbox sending its webhooks there (fast retries)."""
    receiver = WebhookReceiver()
    sandbox.configure(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET, webhook_retry_schedule=FAST_RETRIES)
    yield receiver
    receiver.stop()


# --- time ------------------------------------------------------------------------------------


class Clock:
    """Real time plus an offset a test moves forward past a retry or settle time."""

    def __init__(self):
        self.offset = timedelta(0)

    def __call__(self):
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float):
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def today():
    from django.utils import timezone

    from penaltypay.kernel.clock import london_date

    return london_date(timezone.now())


# --- cases -----------------------------------------------------------------------------------


@pytest.fixture
def reduced_case(ecs, today):
    """A 7A whose reduction is still open: £40 now, £80 after the deadline."""
    case = late_licensing_case(
        reference="70000001",
        vrm="AB12CDE",
        issue_date=today - timedelta(days=10),
        reduction_deadline=today + timedelta(days=20),
        pay_by_date=today + timedelta(days=40),
    )
    ecs.put_case(case)
    return case


@pytest.fixture
def put_case(ecs, today):
    def put(**overrides):
        base = late_licensing_case(
            issue_date=today - timedelta(days=10),
            reduction_deadline=today + timedelta(days=20),
            pay_by_date=today + timedelta(days=40),
        )
        case = replace(base, **overrides)
        ecs.put_case(case)
        return case

    return put


# --- staff -------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(db, settings):
    """A signed-in back-office client for a new account with these roles:
    `staff_client(Role.AGENT)`; `.user` and `.device` are the account's."""
    from tests.staff_helpers import QUICK_HASHERS, signed_in_client

    settings.PASSWORD_HASHERS = [*QUICK_HASHERS, *settings.PASSWORD_HASHERS]
    made = []

    def build(*roles, username=None):
        name = username or f"{'-'.join(role.value for role in roles) or 'none'}-{len(made)}"
        made.append(name)
        return signed_in_client(*roles, username=name)

    return build


# --- money already taken -----------------------------------------------------------------------


@pytest.fixture
def pay_online(provider, ecs):
    """pay_online(case, email=...) -> a successful Payment, taken the keeper's way (find, pay,
    card page, return)."""
    from django.test import Client

    from penaltypay.payments.models import Payment
    from tests.citizen.conftest import find

    def pay(case, email="keeper@example.com", card="4444333322221111"):
        keeper = Client()
        find(keeper, case.reference, case.vrm)
        keeper.post("/pay", {"email": email})
        payment = Payment.objects.filter(lines__case_reference=case.reference).order_by("-created_at").first()
        provider.complete(payment.provider_payment_id, card)
        keeper.get(f"/pay/return/{payment.id}")
        payment.refresh_from_db()
        return payment

    return pay


# --- how make test splits the suite (tests/passes.py) -----------------------------------------

from tests.passes import (  # noqa: E402, F401
    pytest_addoption,
    pytest_collection_modifyitems,
    pytest_runtest_protocol,
    pytest_terminal_summary,
)
