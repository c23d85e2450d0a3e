"""The worker settles payments whose keeper never came back."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.db import connections

from penaltypay.operations.jobs import exclusive_job
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_pass_settles_an_abandoned_browser_payment(client, reduced_case, provider, settings, mailoutbox):
    settings.PAYMENT_RECHECK_AFTER_SECONDS = 0
    find(client, reduced_case.reference, reduced_case.vrm)
    client.post("/pay", {"email": "keeper@example.com"})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    call_command("worker", "--once")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCESS.value
    assert len(mailoutbox) == 1


def test_worker_leaves_recent_payments_to_the_keepers_return(client, reduced_case, provider, settings):
    settings.PAYMENT_RECHECK_AFTER_SECONDS = 3600
    find(client, reduced_case.reference, reduced_case.vrm)
    client.post("/pay", {"email": ""})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    call_command("worker", "--once")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.IN_PROGRESS.value


def test_only_one_process_runs_a_singleton_job_at_a_time():
    holding, release = threading.Event(), threading.Event()
    seen = {}

    def first():
        with exclusive_job("demo") as mine:
            seen["first"] = mine
            holding.set()
            release.wait(10)
        connections.close_all()

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(10)
    with exclusive_job("demo") as mine:
        seen["second"] = mine
    release.set()
    thread.join()
    assert seen == {"first": True, "second": False}
    with exclusive_job("demo") as mine:  # released at the end of the block
        assert mine


def test_a_job_holds_no_transaction_open_so_its_work_is_seen_as_it_goes(reduced_case):
    """A re-check pass's payments and receipts must not wait for the end of the pass."""
    from django.db import connection

    with exclusive_job("demo") as mine:
        assert mine
        assert not connection.in_atomic_block
        Payment.objects.create(
            reference="PP-SEEN-NOW1",
            first_case_reference="70000001",
            case_type="7A",
            amount_pence=4000,
            description="x",
        )
        seen_elsewhere = {}

        def look():
            seen_elsewhere["count"] = Payment.objects.filter(reference="PP-SEEN-NOW1").count()
            connections.close_all()

        thread = threading.Thread(target=look)
        thread.start()
        thread.join()
    assert seen_elsewhere["count"] == 1


def test_a_dead_holders_job_is_taken_over_when_its_lease_runs_out():
    from datetime import timedelta

    from django.utils import timezone

    from penaltypay.operations.models import JobLock

    with exclusive_job("demo") as mine:
        assert mine
        # The holder "dies" here: its lease is still running, so nobody else may take the job...
        with exclusive_job("demo") as other:
            assert not other
        # ...until it has run out.
        JobLock.objects.filter(name="demo").update(lease_until=timezone.now() - timedelta(seconds=1))
        with exclusive_job("demo") as other:
            assert other


def test_worker_loads_an_extract_that_arrives_in_the_drop_folder(tmp_path, settings):
    from django.core.management import call_command

    from penaltypay.cases.models import CaseRecord
    from penaltypay.extract.models import ExtractImport

    settings.EXTRACT_DROP_DIR = tmp_path
    settings.EXTRACT_DROP_SETTLE_SECONDS = 0
    call_command("generate_extract", "--count", "25", "--sequence", "1", "--date", "20261123", "--out", str(tmp_path))
    call_command("worker", "--once", "--no-outbox")
    assert CaseRecord.objects.count() == 25
    assert ExtractImport.objects.get().outcome == "applied"
    assert [p.name for p in (tmp_path / "loaded").iterdir()] == ["ECS_EXTRACT_20261123_000001.DAT"]
