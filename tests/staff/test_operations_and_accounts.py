"""Service support on the outbox; auditors on the audit log (staff accounts: test_accounts.py).
Each action leaves exactly one audit row."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from penaltypay.audit.models import AuditEntry
from penaltypay.ecs.models import OutboxEvent
from penaltypay.ecs.outbox import enqueue_payment
from penaltypay.payments.models import Payment
from penaltypay.staff.roles import Role
from tests.staff_helpers import sign_in

pytestmark = pytest.mark.django_db


def rows_for(client, **filters) -> list[tuple]:
    return list(
        AuditEntry.objects.filter(actor=client.user.username, **filters)
        .order_by("id")
        .values_list("action", "object_id", "outcome")
    )


@pytest.fixture
def exception():
    with transaction.atomic():
        event = enqueue_payment(
            case_reference="70000555",
            payment_reference="PP-OUTB-0001",
            amount_pence=4000,
            paid_at=timezone.now(),
            channel="ONLINE",
            psp_reference="psp",
        )
    Payment.objects.create(
        reference="PP-OUTB-0001", first_case_reference="70000555", case_type="7A", amount_pence=4000, description="x"
    )
    OutboxEvent.objects.filter(pk=event.pk).update(
        status=OutboxEvent.EXCEPTION, exception_reason="ECS says the case is closed"
    )
    return event


def test_support_sees_the_backlog_and_requeues_an_exception(staff_client, exception):
    support = staff_client(Role.SUPPORT)
    page = support.get("/staff/outbox").content.decode()
    assert "ECS says the case is closed" in page and "70000555" in page
    form = support.get(f"/staff/outbox/{exception.pk}").content.decode()
    assert "Send it to ECS again" in form
    refused = support.post(f"/staff/outbox/{exception.pk}", {"action": "requeue", "note": ""}).content.decode()
    assert "Say what was done and why" in refused and "There is a problem" in refused
    no_choice = support.post(f"/staff/outbox/{exception.pk}", {"note": "x"}).content.decode()
    assert "Choose whether to resolve or re-queue it" in no_choice
    done = support.post(f"/staff/outbox/{exception.pk}", {"action": "requeue", "note": "ECS reopened the case"})
    assert done["Location"] == "/staff/outbox"
    event = OutboxEvent.objects.get(pk=exception.pk)
    assert (event.status, event.handled_by, event.handling_note) == (
        OutboxEvent.PENDING,
        support.user.username,
        "ECS reopened the case",
    )
    again = support.post(f"/staff/outbox/{exception.pk}", {"action": "resolve", "note": "late"}).content.decode()
    assert "no longer an exception" in again
    agent = staff_client(Role.AGENT)
    timeline = agent.get("/staff/payments/PP-OUTB-0001").content.decode()
    assert "ECS exception re-queued: ECS reopened the case" in timeline and support.user.username in timeline
    assert rows_for(support, action__startswith="outbox-") == [
        ("outbox-requeue", str(exception.pk), "success"),
        ("outbox-resolve", str(exception.pk), "refused"),
    ]


def test_an_auditor_reads_the_outbox_but_cannot_act(staff_client, exception):
    auditor = staff_client(Role.AUDITOR)
    assert "Send it to ECS again" not in auditor.get(f"/staff/outbox/{exception.pk}").content.decode()
    assert auditor.post(f"/staff/outbox/{exception.pk}", {"action": "resolve", "note": "x"}).status_code == 403
    assert OutboxEvent.objects.get(pk=exception.pk).status == OutboxEvent.EXCEPTION


def test_the_auditor_filters_the_log_and_downloads_it(staff_client):
    agent = staff_client(Role.AGENT)
    agent.get("/staff/search", {"q": "AB12CDE"})
    agent.get("/staff/cases/70000001")
    auditor = staff_client(Role.AUDITOR)
    page = auditor.get("/staff/audit", {"actor": agent.user.username, "action": "search"}).content.decode()
    assert agent.user.username in page and ">search<" in page and "view-case" not in page.split("<tbody")[1]
    bad = auditor.get("/staff/audit", {"date_from": "yesterday"}).content.decode()
    assert "Enter a real date in the format YYYY-MM-DD" in bad
    response = auditor.get("/staff/audit.csv", {"actor": agent.user.username})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["actor"], row["action"]) for row in rows] == [
        (agent.user.username, "view-case"),
        (agent.user.username, "search"),
        (agent.user.username, "sign-in"),
    ]
    assert response["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    assert [row[0] for row in rows_for(auditor)] == [
        "sign-in",
        "read-audit-log",
        "read-audit-log",
        "download-audit-log",
    ]


def test_sign_in_and_out_leave_one_row_each(staff_client):
    agent = staff_client(Role.AGENT)
    agent.post("/staff/sign-out")
    Client().post("/staff/sign-in", {"username": agent.user.username, "password": "wrong password!"})
    assert rows_for(agent) == [("sign-in", "", "success"), ("sign-out", "", "success"), ("sign-in", "", "failure")]
    agent2 = Client()
    assert sign_in(agent2, agent.user.username, agent.device, steps_from_now=1).status_code == 302
    agent2.post("/staff/sign-out-everywhere")
    assert rows_for(agent)[-2:] == [("sign-in", "", "success"), ("sign-out-everywhere", "", "success")]
