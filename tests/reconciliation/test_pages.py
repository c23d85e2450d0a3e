"""Finance reads a reconciliation in the back office."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.factories import payment_provider
from penaltypay.ecs.models import OutboxEvent
from penaltypay.reconciliation.run import reconcile_day
from penaltypay.staff.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_reads_the_differences_what_changed_and_downloads_them(
    today, reduced_case, pay_online, ecs, staff_client
):
    payment = pay_online(reduced_case)

    def reconcile():
        return reconcile_day(
            today, provider=payment_provider(), ecs_factory=lambda: EcsClient(ecs.url, timeout=1.0), trigger="command"
        )

    first = reconcile()
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(days=1))
    second = reconcile()
    finance = staff_client(Role.FINANCE)
    listing = finance.get("/staff/reconciliation").content.decode()
    assert f'href="/staff/reconciliation/{second.pk}"' in listing and "differences" in listing
    page = finance.get(f"/staff/reconciliation/{second.pk}").content.decode()
    assert "missing_in_ecs" in page and payment.reference in page and "send it again" in page
    assert f"{payment.reference}: in_flight → missing_in_ecs" in page
    assert "This is the first run" in finance.get(f"/staff/reconciliation/{first.pk}").content.decode()
    response = finance.get(f"/staff/reconciliation/{second.pk}.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["class"], r["reference"], r["provider_pence"]) for r in rows] == [
        ("missing_in_ecs", payment.reference, "4000")
    ]
    assert staff_client(Role.AGENT).get("/staff/reconciliation").status_code == 403
    assert staff_client(Role.AUDITOR).get(f"/staff/reconciliation/{second.pk}").status_code == 200
    assert finance.get("/staff/reconciliation/99999").status_code == 404
