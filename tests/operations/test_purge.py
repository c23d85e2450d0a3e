"""The retention policy: nothing inside its period is touched, everything past it is, and
the money still adds up (reconciliation and the audit trail are unchanged by a purge)."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from penaltypay.api.clients import add_client
from penaltypay.api.models import IdempotencyRecord
from penaltypay.audit.log import record
from penaltypay.audit.models import AppendOnly, AuditEntry
from penaltypay.audit.policy import address_hash
from penaltypay.cases.models import CaseRecord
from penaltypay.kernel.clock import LONDON
from penaltypay.operations.jobs import run_job
from penaltypay.operations.models import PurgeRun
from penaltypay.operations.retention import purge
from penaltypay.payments.models import Payment, WebhookMessage
from penaltypay.reporting.models import Feedback
from tests.ecs_helpers import deliver, reconcile

pytestmark = pytest.mark.django_db(transaction=True)

NOW = timezone.now()


def days_ago(n: float):
    return NOW - timedelta(days=n)


def paid(reference: str, finished_days_ago: float, *, in_ecs: bool = True) -> Payment:
    payment = Payment.objects.create(
        reference=reference,
        first_case_reference="70000001",
        case_type="7A",
        amount_pence=4000,
        description="Late licensing penalty 70000001 (AB12CDE)",
        email="keeper@example.com",
        status="success",
    )
    Payment.objects.filter(pk=payment.pk).update(
        finished_at=days_ago(finished_days_ago), ecs_recorded_at=days_ago(finished_days_ago) if in_ecs else None
    )
    return payment


def test_receipt_emails_go_after_their_period_once_the_payment_is_in_ecs(settings):
    settings.RETENTION_RECEIPT_EMAIL_DAYS = 90
    old = paid("PP-OLD", 91)
    recent = paid("PP-NEW", 89)
    not_in_ecs = paid("PP-STUCK", 200, in_ecs=False)

    removed = purge(now=NOW).removed

    assert removed["receipt_emails"] == 1
    old.refresh_from_db(), recent.refresh_from_db(), not_in_ecs.refresh_from_db()
    assert (old.email, old.description) == ("", "Penalty 70000001")
    assert old.amount_pence == 4000 and old.status == "success" and old.reference == "PP-OLD"
    assert recent.email == "keeper@example.com" and "AB12CDE" in recent.description
    assert not_in_ecs.email == "keeper@example.com"  # not settled everywhere yet: kept
    assert purge(now=NOW).removed["receipt_emails"] == 0  # nothing twice


def test_a_payment_being_disputed_keeps_its_receipt_address_until_the_dispute_is_decided(settings):
    from penaltypay.payments.models import Dispute

    settings.RETENTION_RECEIPT_EMAIL_DAYS = 90
    disputed = paid("PP-DISPUTED", 100)
    dispute = Dispute.objects.create(
        provider_dispute_id="d1", payment=disputed, amount_pence=4000, status="needs_response", raised_at=NOW
    )
    assert purge(now=NOW).removed["receipt_emails"] == 0
    Dispute.objects.filter(pk=dispute.pk).update(status="won")
    assert purge(now=NOW).removed["receipt_emails"] == 1


def test_a_payment_resolved_as_never_going_to_ecs_is_blanked_like_the_others(settings):
    """Refused by ECS (a closed case), refunded and resolved by a person: it will never reach
    ECS, so waiting for ECS would keep the keeper's address for ever."""
    from django.db import transaction

    from penaltypay.ecs.deliveries import delivery_of_payment
    from penaltypay.ecs.models import OutboxEvent
    from penaltypay.ecs.outbox import enqueue_payment, resolve_exception

    settings.RETENTION_RECEIPT_EMAIL_DAYS = 90
    refused = paid("PP-REFUSED", 91, in_ecs=False)
    waiting = paid("PP-WAITING", 91, in_ecs=False)
    for payment in (refused, waiting):
        with transaction.atomic():
            enqueue_payment(
                case_reference=payment.first_case_reference,
                payment_reference=payment.reference,
                amount_pence=payment.amount_pence,
                paid_at=days_ago(91),
                channel="ONLINE",
                psp_reference="psp",
            )
    OutboxEvent.objects.filter(payment_reference="PP-REFUSED").update(status="exception")  # ECS refused it
    resolve_exception(delivery_of_payment("PP-REFUSED").id, by="fin.one", note="refunded; case closed")

    assert purge(now=NOW).removed["receipt_emails"] == 1
    refused.refresh_from_db(), waiting.refresh_from_db()
    assert refused.email == "" and waiting.email == "keeper@example.com"


def test_each_kind_past_its_period_and_none_inside_it(settings, db):
    settings.RETENTION_WEBHOOK_DAYS = 30
    settings.RETENTION_CLOSED_CASE_DAYS = 730
    settings.RETENTION_FEEDBACK_DAYS = 365
    settings.RETENTION_IDEMPOTENCY_DAYS = 30
    for message_id, age in (("old", 31), ("new", 29)):
        WebhookMessage.objects.create(message_id=message_id, event_type="card_payment_succeeded", resource_id="x")
        WebhookMessage.objects.filter(message_id=message_id).update(received_at=days_ago(age))
    for reference, status, age in (("1", "PAID", 731), ("2", "PAID", 729), ("3", "OPEN", 2000)):
        CaseRecord.objects.create(
            reference=f"7100000{reference}",
            case_type="7A",
            vrm="AB12CDE",
            status=status,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            pay_by_date=NOW.date(),
            issue_date=NOW.date(),
        )
        CaseRecord.objects.filter(reference=f"7100000{reference}").update(refreshed_at=days_ago(age))
    for comment, age in (("old words", 366), ("new words", 364)):
        feedback = Feedback.objects.create(rating=4, comments=comment)
        Feedback.objects.filter(pk=feedback.pk).update(at=days_ago(age))
    client = add_client("partner", ["payments:write"]).client
    for key, age in (("k-old", 31), ("k-new", 29)):
        IdempotencyRecord.objects.create(client=client, key=key, request_hash="h")
        IdempotencyRecord.objects.filter(key=key).update(created_at=days_ago(age))
    expired = SessionStore()
    expired["x"] = 1
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=days_ago(1))
    live = SessionStore()
    live["x"] = 1
    live.create()

    dry = purge(dry_run=True, now=NOW).removed
    assert WebhookMessage.objects.count() == 2  # a dry run changes nothing
    removed = purge(now=NOW).removed

    assert dry == removed
    assert removed["webhook_messages"] == 1 and list(WebhookMessage.objects.values_list("message_id", flat=True)) == [
        "new"
    ]
    assert removed["closed_cases"] == 1
    assert sorted(CaseRecord.objects.values_list("reference", flat=True)) == ["71000002", "71000003"]
    assert removed["feedback_comments"] == 1
    assert sorted(Feedback.objects.values_list("comments", "rating")) == [("", 4), ("new words", 4)]
    assert removed["idempotency_keys"] == 1 and IdempotencyRecord.objects.get().key == "k-new"
    assert removed["sessions"] == 1 and Session.objects.filter(session_key=live.session_key).exists()


def audit_entry_made(days_ago_: float, address: str, action: str = "sign-in", object_id: str = "") -> int:
    """An entry written `days_ago_` days ago (its time cannot be moved afterwards: the log is
    append-only, so it is written with that time)."""
    at = timezone.now() - timedelta(days=days_ago_)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_entry (at, actor, actor_kind, action, object_type, object_id, address, outcome, detail)"
            " VALUES (%s, 'a.person', 'staff', %s, %s, %s, %s, 'success', '')",
            [at, action, "case" if object_id else "", object_id, address],
        )
    return AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()


def test_audit_addresses_are_hashed_once_and_nothing_else_changes(settings):
    settings.RETENTION_AUDIT_ADDRESS_DAYS = 90
    audit_entry_made(91, "192.0.2.10")
    audit_entry_made(100, "192.0.2.10", "view-case", "70000001")
    fresh = audit_entry_made(89, "192.0.2.11")
    entries = list(AuditEntry.objects.order_by("pk"))
    before = [(e.pk, e.at, e.actor, e.action, e.object_type, e.object_id, e.outcome, e.detail) for e in entries]

    removed = purge(now=NOW).removed

    assert removed["audit_addresses"] == 2
    after = list(AuditEntry.objects.order_by("pk"))
    assert [(e.pk, e.at, e.actor, e.action, e.object_type, e.object_id, e.outcome, e.detail) for e in after] == before
    assert [e.address for e in after] == [address_hash("192.0.2.10")] * 2 + ["192.0.2.11"]  # still matched
    assert purge(now=NOW).removed["audit_addresses"] == 0
    # A purge "as of" a later day cannot hash an address early: the clock that decides is the
    # database's (and the model's), not the caller's.
    assert purge(now=NOW + timedelta(days=30)).removed["audit_addresses"] == 0
    # The exception is exactly that one change, once, on an old entry: nothing else.
    with pytest.raises(AppendOnly):
        AuditEntry.pseudonymise_address(after[0].pk)
    with pytest.raises(AppendOnly):
        AuditEntry.pseudonymise_address(fresh)
    with pytest.raises(AppendOnly):
        AuditEntry.objects.filter(pk=after[0].pk).update(actor="someone else")


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the audit trigger is PostgreSQL's")
def test_the_database_still_refuses_every_other_change_to_the_audit_log(settings):
    from django.db import DatabaseError, transaction

    settings.RETENTION_AUDIT_ADDRESS_DAYS = 90  # as the database's policy was written at migrate
    old = audit_entry_made(100, "192.0.2.10")
    fresh = audit_entry_made(1, "192.0.2.12")

    def refused(sql, params):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)

    refused("UPDATE audit_entry SET actor = 'x', address = %s WHERE id = %s", [address_hash("192.0.2.10"), old])
    refused("DELETE FROM audit_entry WHERE id = %s", [old])
    refused("UPDATE audit_entry SET address = 'h:abc' WHERE id = %s", [old])  # not its hash
    refused("UPDATE audit_entry SET address = %s WHERE id = %s", [address_hash("192.0.2.12"), fresh])  # too young
    with connection.cursor() as cursor:  # the retention change
        cursor.execute("UPDATE audit_entry SET address = %s WHERE id = %s", [address_hash("192.0.2.10"), old])
    refused("UPDATE audit_entry SET address = %s WHERE id = %s", [address_hash("h:x"), old])  # only once


def test_a_purge_leaves_the_reconciliation_and_the_audit_trail_as_they_were(
    today, reduced_case, pay_online, ecs, clock, settings
):
    payment = pay_online(reduced_case)
    deliver(ecs, clock)
    record("a.person", "view-payment", object_type="payment", object_id=payment.reference, address="192.0.2.7")
    audit_entry_made(120, "192.0.2.8")
    before = reconcile(today, ecs)
    audit_before = list(AuditEntry.objects.values_list("pk", "actor", "action", "object_id", "outcome"))
    settings.RETENTION_RECEIPT_EMAIL_DAYS = 0

    removed = purge(now=timezone.now() + timedelta(seconds=1)).removed
    assert removed["receipt_emails"] == 1 and removed["audit_addresses"] >= 1

    after = reconcile(today, ecs)
    assert (after.status, after.provider_pence, after.penaltypay_pence, after.ecs_pence) == (
        before.status,
        before.provider_pence,
        before.penaltypay_pence,
        before.ecs_pence,
    )
    assert dict(after.items.values_list("key", "cls")) == dict(before.items.values_list("key", "cls"))
    assert list(AuditEntry.objects.values_list("pk", "actor", "action", "object_id", "outcome")) == audit_before


def test_the_command_prints_what_it_removed_per_kind(settings):
    settings.RETENTION_RECEIPT_EMAIL_DAYS = 90
    paid("PP-OLD", 91)
    out = io.StringIO()
    call_command("purge", "--dry-run", "--json", stdout=out)
    dry = json.loads(out.getvalue())
    assert dry["dry_run"] is True and dry["removed"]["receipt_emails"] == 1
    assert Payment.objects.get().email == "keeper@example.com"
    out = io.StringIO()
    call_command("purge", "--json", stdout=out)
    assert json.loads(out.getvalue())["removed"]["receipt_emails"] == 1
    assert PurgeRun.objects.get().removed["receipt_emails"] == 1


def test_the_worker_purges_once_a_night(settings):
    settings.PURGE_AT = "03:00"
    night = datetime(2026, 11, 28, 2, 0, tzinfo=LONDON)
    assert run_job("purge", night) is None  # not yet
    assert run_job("purge", night + timedelta(hours=2)) is not None
    assert run_job("purge", night + timedelta(hours=3)) is None  # once a night, across workers
    assert run_job("purge", night + timedelta(days=1, hours=2)) is not None  # and the next night again
    assert PurgeRun.objects.filter(trigger="schedule", finished_at__isnull=False).count() == 2


def test_a_worker_finding_another_purging_leaves_it_alone(settings):
    """Two workers at 03:00: the one without the lease does nothing (no second run)."""
    from penaltypay.operations.jobs import exclusive_job

    settings.PURGE_AT = "03:00"
    night = datetime(2026, 11, 28, 4, 0, tzinfo=LONDON)
    with exclusive_job("purge") as mine:
        assert mine
        assert run_job("purge", night) is None
    assert PurgeRun.objects.count() == 0
    assert run_job("purge", night) is not None
