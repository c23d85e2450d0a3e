"""The exceptions queue: what lands on it, who is told, and each way off it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from penaltypay.cases.domain import COURT
from penaltypay.ecs.models import OutboxEvent
from penaltypay.exceptions.alerts import announce_new_exceptions
from penaltypay.exceptions.queue import open_exceptions
from penaltypay.payments.models import Payment, Refund
from penaltypay.staff.roles import Role
from tests.ecs_helpers import deliver

pytestmark = pytest.mark.django_db(transaction=True)


def raised(kind: str) -> float:
    return REGISTRY.get_sample_value("penaltypay_exceptions_raised_total", {"kind": kind}) or 0.0


@pytest.fixture
def refused(put_case, pay_online, ecs, clock):
    """A payment ECS refused: the case went to court before the payment reached it."""
    case = put_case(reference="70000901", vrm="EX90CPT")
    payment = pay_online(case)
    ecs.put_case(replace(case, status=COURT))
    deliver(ecs, clock, rounds=4)
    return payment


def test_a_refused_payment_is_announced_once_and_refunded_from_the_queue(refused, staff_client, settings, mailoutbox):
    settings.EXCEPTIONS_NOTIFY_EMAIL = "payments-team@example.gov.uk"
    before = raised("ecs-refused")
    assert announce_new_exceptions() == 1
    assert announce_new_exceptions() == 0  # told once
    team = [m for m in mailoutbox if m.to == ["payments-team@example.gov.uk"]]
    assert len(team) == 1 and refused.reference in team[0].body and "ECS refused it" in team[0].body
    assert "keeper@example.com" not in team[0].body
    assert raised("ecs-refused") - before == 1

    asker, approver = staff_client(Role.FINANCE), staff_client(Role.FINANCE)
    page = asker.get("/staff/exceptions").content.decode()
    assert "CASE_CLOSED" in page and refused.reference in page and "Refund the keeper" in page
    key = open_exceptions()[0].key
    response = asker.post("/staff/exceptions/act", {"key": key, "action": "refund"})
    query = f"amount=40.00&reason=case-closed&penalty={refused.first_case_reference}"
    assert response["Location"] == f"/staff/payments/{refused.reference}/refund?{query}"
    form = asker.get(response["Location"]).content.decode()
    assert 'value="40.00"' in form
    asker.post(f"/staff/payments/{refused.reference}/refund", {"amount": "40.00", "reason": "case-closed"})
    refund = Refund.objects.get()
    approver.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "approve", "note": ""})
    assert Refund.objects.get().status == "success"
    assert open_exceptions() == []  # the full refund resolved the payment's exception
    assert "No exceptions." in asker.get("/staff/exceptions").content.decode()


def test_retry_and_resolve_need_a_note(refused, staff_client):
    support = staff_client(Role.SUPPORT)
    key = open_exceptions()[0].key
    page = support.post("/staff/exceptions/act", {"key": key, "action": "retry"})
    assert page.status_code == 400 and "Say what was done and why" in page.content.decode()
    assert "Refund the keeper" not in support.get("/staff/exceptions").content.decode()  # support cannot refund
    assert support.post("/staff/exceptions/act", {"key": key, "action": "refund"}).status_code == 403
    done = support.post("/staff/exceptions/act", {"key": key, "action": "retry", "note": "ECS reopened the case"})
    assert done.status_code == 302
    event = OutboxEvent.objects.get(kind=OutboxEvent.KIND_PAYMENT)
    assert (event.status, event.handled_by) == (OutboxEvent.PENDING, support.user.username)
    gone = support.post("/staff/exceptions/act", {"key": key, "action": "resolve", "note": "late"})
    assert gone.status_code == 409


def test_a_delivery_stuck_for_hours_is_listed_and_sent_now(reduced_case, pay_online, staff_client, settings):
    settings.EXCEPTION_STUCK_AFTER_MINUTES = 60
    payment = pay_online(reduced_case)
    OutboxEvent.objects.update(
        created_at=timezone.now() - timedelta(hours=2),
        next_attempt_at=timezone.now() + timedelta(hours=1),
        last_error="SERVICE_UNAVAILABLE",
    )
    items = open_exceptions()
    assert [(item.kind, item.payment_reference) for item in items] == [("stuck", payment.reference)]
    assert "waiting 120 minutes" in items[0].what and "SERVICE_UNAVAILABLE" in items[0].what
    support = staff_client(Role.SUPPORT)
    assert support.post("/staff/exceptions/act", {"key": items[0].key, "action": "retry"}).status_code == 302
    assert OutboxEvent.objects.get().next_attempt_at <= timezone.now()


def test_an_over_payment_is_flagged_and_its_excess_refunded_in_one_click(reduced_case, pay_online, staff_client):
    first = pay_online(reduced_case)
    # A second payment for the same penalty (taken by phone before the first reached ECS).
    Payment.objects.create(
        reference="PP-TWIC-E001",
        first_case_reference=first.first_case_reference,
        case_type="7A",
        amount_pence=4000,
        description="x",
        status="success",
        provider_payment_id="x",
        authorised_at=timezone.now(),
        finished_at=timezone.now(),
    )
    items = open_exceptions(kind="overpaid")
    assert [(item.case_reference, item.money_pence, item.payment_reference) for item in items] == [
        ("70000001", 4000, "PP-TWIC-E001")
    ]
    finance = staff_client(Role.FINANCE)
    assert "Request refund of the excess" in finance.get("/staff/exceptions?kind=overpaid").content.decode()
    finance.post("/staff/exceptions/act", {"key": items[0].key, "action": "refund"})
    refund = Refund.objects.get()
    assert (refund.amount_pence, refund.reason, refund.payment.reference, refund.status) == (
        4000,
        "overpaid",
        "PP-TWIC-E001",
        "requested",
    )
    assert open_exceptions(kind="overpaid") == []  # the excess is promised back
    Refund.objects.update(status="rejected")
    assert len(open_exceptions(kind="overpaid")) == 1  # rejected: owed again
    finance.post(
        "/staff/exceptions/act", {"key": items[0].key, "action": "resolve", "note": "refunded by cheque, ref CHQ-1"}
    )
    assert open_exceptions(kind="overpaid") == []


def test_a_refund_the_provider_failed_is_listed_until_someone_resolves_it(
    reduced_case, pay_online, staff_client, sandbox
):
    from penaltypay.adapters.factories import payment_provider
    from penaltypay.payments.refunds import approve_refund, request_refund

    payment = pay_online(reduced_case)
    sandbox.configure(fail_next_refunds=1)
    refund = request_refund(payment.reference, 1000, "other", "x", by="fin.a")
    approve_refund(refund.reference, by="fin.b", note="", client=payment_provider())
    items = open_exceptions(kind="refund-failed")
    assert [item.refund_reference for item in items] == [refund.reference]
    finance = staff_client(Role.FINANCE)
    finance.post("/staff/exceptions/act", {"key": items[0].key, "action": "resolve", "note": "asked again: RF-2"})
    assert open_exceptions() == []
    assert Refund.objects.get().resolved_by == finance.user.username


def test_counts_and_filter(refused, reduced_case, pay_online, staff_client, settings):
    settings.EXCEPTION_STUCK_AFTER_MINUTES = 0
    pay_online(reduced_case)
    page = staff_client(Role.AUDITOR).get("/staff/exceptions?kind=ecs-refused").content.decode()
    assert "ECS refused it</strong> (1)" in page and "Not reaching ECS</a> (1)" in page
    assert "Mark resolved" not in page  # the auditor reads, never acts
