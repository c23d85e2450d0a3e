"""The worker reconciles yesterday each morning, once across all workers, and comes back
to an incomplete day until it completes."""

from __future__ import annotations

from datetime import datetime

import pytest

from penaltypay.kernel.clock import LONDON
from penaltypay.operations.jobs import run_job
from penaltypay.reconciliation.models import ReconciliationRun

pytestmark = pytest.mark.django_db(transaction=True)


def at(hour: int, minute: int = 0, day: int = 28) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


def test_yesterday_is_reconciled_once_after_reconcile_at(ecs, provider, settings):
    settings.RECONCILE_AT = "06:30"
    assert run_job("reconcile", at(6, 29)) is None
    run = run_job("reconcile", at(6, 31))
    assert run is not None and run.day.isoformat() == "2026-11-27" and run.trigger == "schedule"
    assert run.status == "balanced"  # nothing happened that day
    assert run_job("reconcile", at(7, 0)) is None
    assert run_job("reconcile", at(23, 0)) is None
    assert ReconciliationRun.objects.count() == 1


def test_an_incomplete_day_is_resumed_every_half_hour(ecs, provider, settings):
    settings.ECS_URL = "http://127.0.0.1:9/ecs"
    settings.ECS_WRITE_TIMEOUT = 0.5
    settings.PAY_API_URL = "http://127.0.0.1:9"  # the provider is down too
    first = run_job("reconcile", at(6, 31))
    assert first.status == "incomplete"
    ReconciliationRun.objects.filter(pk=first.pk).update(finished_at=at(6, 32))
    assert run_job("reconcile", at(6, 50)) is None
    settings.ECS_URL, settings.PAY_API_URL = ecs.url, provider.base_url
    again = run_job("reconcile", at(7, 5))
    assert again.pk == first.pk and again.status == "balanced"
    assert run_job("reconcile", at(7, 40)) is None
    assert ReconciliationRun.objects.count() == 1
