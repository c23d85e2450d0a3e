"""What an agent sees: search, the case, and one payment's whole story."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.audit.models import AuditEntry
from penaltypay.cases.models import CaseRecord
from penaltypay.ecs.models import DeliveryAttempt
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.payments.ecs_sync import record_delivered
from penaltypay.payments.models import Payment
from penaltypay.staff.roles import Role
from tests.citizen.conftest import find
from tests.webhooks.test_webhooks import message, post, sign

pytestmark = pytest.mark.django_db(transaction=True)


def deliver(url: str, clock) -> None:
    worker = OutboxWorker(
        lambda: EcsClient(url, timeout=1.0),
        on_delivered=record_delivered,
        concurrency=1,
        lease_seconds=30,
        respect_batch_window=False,
        clock=clock,
        rng=lambda: 0.0,
    )
    worker.run(threading.Event(), until_idle=True)


@pytest.fixture
def paid(reduced_case, provider, ecs, clock, settings, mailoutbox):
    """A keeper's payment, settled by a webhook, receipted, and put in ECS at the second try."""
    settings.PAY_WEBHOOK_SECRET = "test-webhook-secret"
    keeper = Client()
    find(keeper, reduced_case.reference, reduced_case.vrm)
    keeper.post("/pay", {"email": "keeper@example.com"})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    body = message(payment.provider_payment_id, "card_payment_succeeded")
    assert post(keeper, body, sign(body)).status_code == 200
    deliver("http://127.0.0.1:9/ecs", clock)  # nothing listens there: a retry
    clock.advance(3600)
    deliver(ecs.url, clock)
    payment.refresh_from_db()
    assert payment.ecs_recorded_at is not None and len(mailoutbox) == 1
    return payment


def test_an_agent_finds_a_payment_by_registration_and_reads_its_timeline(paid, reduced_case, staff_client):
    agent = staff_client(Role.AGENT)
    page = agent.get("/staff/search", {"q": "ab12 cde"}).content.decode()
    assert reduced_case.reference in page and paid.reference in page

    page = agent.get(f"/staff/payments/{paid.reference}").content.decode()
    lines = [
        "Payment of 4000 pence created (ONLINE)",
        "Status new → in_progress",
        "Webhook received: card_payment_succeeded",
        "Status in_progress → success",
        "Receipt email sent",
        "Queued for ECS: payment",
        "ECS delivery: retry",
        "ECS delivery: sent",
    ]
    for line in lines:
        assert line in page, line
    assert "a webhook from the provider" in page and "the keeper online" in page
    assert "the outbox worker" in page
    assert page.index("ECS delivery: retry") < page.index("ECS delivery: sent")
    assert DeliveryAttempt.objects.filter(outcome=DeliveryAttempt.RETRY).count() == 1

    page = agent.get(f"/staff/cases/{reduced_case.reference}").content.decode()
    assert paid.reference in page and "AB12CDE" in page and "ECS look-up" in page

    actions = list(
        AuditEntry.objects.filter(actor=agent.user.username).order_by("id").values_list("action", "object_id")
    )
    assert actions == [
        ("sign-in", ""),
        ("search", ""),
        ("view-payment", paid.reference),
        ("view-case", reduced_case.reference),
    ]


@pytest.mark.parametrize("query", ["PAYREF", "PROVIDER_ID", "70000001", "7000 0001"])
def test_search_finds_by_each_identifier(paid, staff_client, query):
    text = {"PAYREF": paid.reference, "PROVIDER_ID": paid.provider_payment_id}.get(query, query)
    page = staff_client(Role.FINANCE).get("/staff/search", {"q": text}).content.decode()
    assert f'href="/staff/payments/{paid.reference}"' in page


def test_search_by_dates_and_status(paid, staff_client):
    agent = staff_client(Role.AGENT)
    today = timezone.localdate()
    found = agent.get("/staff/search", {"date_from": today.isoformat(), "status": "success"}).content.decode()
    assert paid.reference in found
    before = (today - timedelta(days=3)).isoformat()
    none = agent.get("/staff/search", {"date_to": before}).content.decode()
    assert paid.reference not in none and "No payments match" in none
    assert paid.reference not in agent.get("/staff/search", {"status": "failed"}).content.decode()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "Enter a penalty reference, registration number"),
        ({"q": "   "}, "Enter a penalty reference, registration number"),
        ({"date_from": "28/11/2026"}, "Enter a real date in the format YYYY-MM-DD"),
        ({"date_from": "2026-02-30"}, "Enter a real date in the format YYYY-MM-DD"),
        ({"date_from": "2026-11-28", "date_to": "2026-11-01"}, "The end date must be the same as or after"),
        ({"status": "'; DROP TABLE payment; --"}, "Choose a status from the list"),
        ({"q": "x" * 500}, "Enter 100 characters or fewer"),
    ],
)
def test_a_bad_search_gets_an_error_summary_never_a_500(staff_client, params, message):
    response = staff_client(Role.AGENT).get("/staff/search", params)
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page and message in page
    assert "<title>Error:" in page


def test_search_results_are_paginated(staff_client, db):
    today = timezone.now()
    for n in range(30):
        Payment.objects.create(
            reference=f"PP-PAGE-{n:04d}",
            first_case_reference="79999999",
            case_type="7A",
            amount_pence=1000,
            description="x",
            status="failed",
        )
    Payment.objects.update(created_at=today)
    agent = staff_client(Role.AGENT)
    first = agent.get("/staff/search", {"q": "79999999"}).content.decode()
    assert "Payments (30)" in first and first.count('href="/staff/payments/PP-PAGE-') == 25
    second = agent.get("/staff/search", {"q": "79999999", "page": "2"}).content.decode()
    assert second.count('href="/staff/payments/PP-PAGE-') == 5
    assert agent.get("/staff/search", {"q": "79999999", "page": "x"}).status_code == 200
    assert agent.get("/staff/search", {"q": "79999999", "page": "999"}).status_code == 200


def test_unknown_case_and_payment_are_a_plain_not_found(staff_client):
    agent = staff_client(Role.AGENT)
    assert "We hold no case 12345678" in agent.get("/staff/cases/12345678").content.decode()
    response = agent.get("/staff/payments/PP-NONE-0000")
    assert response.status_code == 404 and "There is no payment with that reference" in response.content.decode()


def test_a_case_held_without_payments(staff_client, db):
    from tests.factories import late_licensing_case

    case = late_licensing_case(reference="71234567", vrm="NO11PAY")
    CaseRecord.objects.create(
        reference=case.reference, source=CaseRecord.SOURCE_EXTRACT, **CaseRecord.fields_from_case(case)
    )
    page = staff_client(Role.SUPERVISOR).get("/staff/cases/7123 4567").content.decode()
    assert "NO11PAY" in page and "nightly extract" in page and "No payments." in page
