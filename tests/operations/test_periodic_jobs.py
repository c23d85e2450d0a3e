"""Each app declares its periodic jobs; the worker runs each under its own lease, so a
worker that does not hold one job's lease (another worker is re-checking payments, say)
still runs every other job when its turn comes, and one job failing stops no other."""

from __future__ import annotations

import threading
from datetime import datetime

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connections

from penaltypay.kernel.clock import LONDON
from penaltypay.kernel.periodic import periodic_jobs
from penaltypay.operations.jobs import exclusive_job, last_success, run_job, run_periodic_jobs
from penaltypay.operations.models import JobLock, PurgeRun
from penaltypay.reconciliation.models import ReconciliationRun
from tests.infrastructure import database_url

pytestmark = pytest.mark.django_db(transaction=True)

MORNING = datetime(2026, 11, 28, 7, 0, tzinfo=LONDON)  # after the purge and the reconciliation are due


@pytest.fixture
def schedule(settings):
    settings.PURGE_AT = "03:00"
    settings.RECONCILE_AT = "06:30"
    settings.DISPUTE_SYNC_SECONDS = 300


def test_every_app_declares_its_jobs_where_it_lives():
    owners = {job.name: job.owner for job in periodic_jobs()}
    assert owners == {
        "payment-recheck": "penaltypay.payments.jobs",
        "dispute-sync": "penaltypay.payments.jobs",
        "exceptions-announce": "penaltypay.exceptions.jobs",
        "reminders": "penaltypay.reminders.jobs",
        "reconcile": "penaltypay.reconciliation.jobs",
        "purge": "penaltypay.operations.scheduled_purge",
    }


def test_a_worker_without_the_recheck_lease_runs_the_other_jobs(ecs, provider, schedule):
    holding, done = threading.Event(), threading.Event()

    def other_worker_rechecking():
        try:
            with exclusive_job("payment-recheck") as mine:
                assert mine
                holding.set()
                done.wait(60)
        finally:
            connections.close_all()

    other = threading.Thread(target=other_worker_rechecking)
    other.start()
    try:
        assert holding.wait(30)
        reports = run_periodic_jobs(MORNING)
    finally:
        done.set()
        other.join(30)

    assert reports["payment-recheck"] is None  # the other worker has it
    assert reports["dispute-sync"] is not None and last_success("dispute-sync") is not None
    assert reports["exceptions-announce"] == 0
    assert ReconciliationRun.objects.get().day.isoformat() == "2026-11-27"
    assert PurgeRun.objects.filter(trigger="schedule", finished_at__isnull=False).count() == 1
    # The next pass finds each job done for now: nothing runs twice.
    again = run_periodic_jobs(MORNING)
    assert (again["reconcile"], again["purge"], again["dispute-sync"]) == (None, None, None)


def test_a_failing_job_stops_no_other(ecs, provider, schedule, settings, caplog):
    settings.PAY_API_URL = "http://127.0.0.1:9"  # the provider cannot be reached
    settings.PAY_TIMEOUT = 0.5

    reports = run_periodic_jobs(MORNING)

    failed = {record.job for record in caplog.records if record.getMessage() == "periodic job failed"}
    assert "dispute-sync" in failed
    assert reports["reconcile"] is not None  # incomplete (the provider is down), to be resumed
    assert PurgeRun.objects.filter(trigger="schedule", finished_at__isnull=False).count() == 1


@pytest.fixture
def job_cut_off_midway():
    """A periodic job whose database session is cut while it runs, as a PostgreSQL restart or
    failover cuts every session: its next query fails, and so would the lease's release on
    that same connection."""
    from django.db import connection

    from penaltypay.kernel import periodic

    ran = []

    def cut_off(now):
        ran.append(now)
        if len(ran) == 1:
            with psycopg.connect(database_url(), autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
            JobLock.objects.count()  # the first query after the cut fails
        return "done"

    periodic.periodic("cut-off-midway", what="a test job", cadence="every pass")(cut_off)
    try:
        yield ran
    finally:
        periodic._JOBS.pop("cut-off-midway", None)


@pytest.mark.postgres
def test_a_job_cut_off_by_a_database_restart_gives_its_lease_back(job_cut_off_midway):
    """Before: the release ran on the dead connection and failed, so the job (the payment
    re-check among them) stayed held for its whole lease (10 minutes) after a failover, and a
    keeper whose payment a request had left half-made was told to try again all that while."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("cuts its own PostgreSQL session")
    with pytest.raises(OperationalError):
        run_job("cut-off-midway")

    close_old_connections()  # the worker's next round
    assert JobLock.objects.get(name="cut-off-midway").lease_until is None
    assert run_job("cut-off-midway") == "done"  # the next round runs it again
    assert len(job_cut_off_midway) == 2
