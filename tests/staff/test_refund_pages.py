"""Refunds in the back office: one finance user asks, another decides; the server refuses
the asker's own approval whatever the page shows."""

from __future__ import annotations

import pytest

from penaltypay.audit.models import AuditEntry
from penaltypay.ecs.models import OutboxEvent
from penaltypay.payments.models import Refund
from penaltypay.staff.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paid(reduced_case, pay_online):
    return pay_online(reduced_case)


def test_a_asks_b_approves_and_everything_is_on_the_timeline(paid, staff_client, mailoutbox):
    asker, approver = staff_client(Role.FINANCE), staff_client(Role.FINANCE)
    page = asker.get(f"/staff/payments/{paid.reference}").content.decode()
    assert "Request refund" in page and "Refundable: £40" in page
    response = asker.post(
        f"/staff/payments/{paid.reference}/refund", {"amount": "£15.00", "reason": "overpaid", "detail": "two payments"}
    )
    assert response["Location"] == f"/staff/payments/{paid.reference}"
    refund = Refund.objects.get()
    assert (refund.amount_pence, refund.requested_by) == (1500, asker.user.username)

    own = asker.get(f"/staff/payments/{paid.reference}").content.decode()
    assert "another finance user must approve or reject it" in own and "Approve refund" not in own
    # The page hides the buttons; the server refuses anyway.
    refused = asker.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "approve", "note": ""})
    assert refused.status_code == 400 and "another finance user" in refused.content.decode()
    assert Refund.objects.get().status == "requested"

    theirs = approver.get(f"/staff/payments/{paid.reference}").content.decode()
    assert "Approve refund" in theirs and "Reject refund" in theirs
    done = approver.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "approve", "note": "ok"})
    assert done.status_code == 302
    assert Refund.objects.get().status == "success"
    assert OutboxEvent.objects.filter(kind=OutboxEvent.KIND_REFUND, refund_reference=refund.reference).count() == 1

    timeline = approver.get(f"/staff/payments/{paid.reference}").content.decode()
    for line in (
        f"Refund {refund.reference} of £15 requested (overpaid)",
        f"Refund {refund.reference} of £15 approved",
        f"Refund {refund.reference} of £15: success",
        f"Queued for ECS: refund {refund.reference}",
        "email to the keeper sent",
    ):
        assert line in timeline, line
    rows = list(
        AuditEntry.objects.filter(action__endswith="-refund").order_by("id").values_list("actor", "action", "outcome")
    )
    assert rows == [
        (asker.user.username, "request-refund", "success"),
        (asker.user.username, "approve-refund", "refused"),
        (approver.user.username, "approve-refund", "success"),
    ]
    assert any(m.subject == "Refund of £15 for penalty 70000001" for m in mailoutbox)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "", "reason": "other", "detail": "x"}, "Enter the amount to refund"),
        ({"amount": "twelve", "reason": "other", "detail": "x"}, "Enter an amount in pounds and pence"),
        ({"amount": "12.345", "reason": "other", "detail": "x"}, "Enter an amount in pounds and pence"),
        ({"amount": "0.00", "reason": "other", "detail": "x"}, "Enter an amount of at least 1p"),
        ({"amount": "40.01", "reason": "duplicate"}, "The refund must be £40 or less"),
        ({"amount": "10", "reason": ""}, "Choose a reason for the refund"),
        ({"amount": "10", "reason": "other", "detail": " "}, "Say why the keeper is owed this refund"),
    ],
)
def test_a_bad_request_says_what_to_fix(paid, staff_client, data, message):
    finance = staff_client(Role.FINANCE)
    response = finance.post(f"/staff/payments/{paid.reference}/refund", data)
    page = response.content.decode()
    assert response.status_code == 200 and "There is a problem" in page and message in page
    assert not Refund.objects.exists()


def test_a_rejection_needs_a_note_and_gives_the_amount_back(paid, staff_client):
    asker, decider = staff_client(Role.FINANCE), staff_client(Role.SUPERVISOR)
    asker.post(f"/staff/payments/{paid.reference}/refund", {"amount": "40", "reason": "duplicate"})
    refund = Refund.objects.get()
    no_note = decider.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "reject"})
    assert no_note.status_code == 400 and "Say why the refund is rejected" in no_note.content.decode()
    decider.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "reject", "note": "not owed"})
    assert Refund.objects.get().status == "rejected"
    assert "Refundable: £40" in decider.get(f"/staff/payments/{paid.reference}").content.decode()


def test_an_agent_sees_refunds_but_cannot_ask_for_one(paid, staff_client):
    agent = staff_client(Role.AGENT)
    page = agent.get(f"/staff/payments/{paid.reference}").content.decode()
    assert "Request refund" not in page
    assert (
        agent.post(f"/staff/payments/{paid.reference}/refund", {"amount": "1", "reason": "duplicate"}).status_code
        == 403
    )


def test_finance_settles_a_refund_whose_outcome_was_lost_from_the_exceptions_queue(paid, staff_client):
    """The answer to the approver's ask was lost and the provider holds a refund nobody
    recorded: the queue says so; finance, having looked at the provider's console, says
    which refund it is (never decided by its amount)."""
    from datetime import timedelta

    from penaltypay.adapters.factories import payment_provider
    from penaltypay.payments.recheck import recheck_payments

    asker, checker = staff_client(Role.FINANCE), staff_client(Role.FINANCE)
    asker.post(
        f"/staff/payments/{paid.reference}/refund", {"amount": "£10.00", "reason": "overpaid", "detail": "paid twice"}
    )
    refund = Refund.objects.get()
    Refund.objects.filter(pk=refund.pk).update(status="submitting", decided_by="x", submit_unknown=True)
    provider = payment_provider()
    available = provider.get_payment(paid.provider_payment_id).refund_amount_available
    landed = provider.create_refund(paid.provider_payment_id, 1000, available)
    recheck_payments(provider, older_than=timedelta(0))

    queue = checker.get("/staff/exceptions").content.decode()
    assert "Refund outcome unknown" in queue and landed.refund_id in queue
    key = f"refund-unknown:{refund.reference}"
    no_choice = checker.post("/staff/exceptions/act", {"key": key, "action": "adopt", "note": "checked console"})
    assert no_choice.status_code == 400 and "Choose which" in no_choice.content.decode()
    done = checker.post(
        "/staff/exceptions/act",
        {"key": key, "action": "adopt", "note": "checked console", "provider_refund_id": landed.refund_id},
    )

    assert done.status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.provider_refund_id) == ("success", landed.refund_id)
    entry = AuditEntry.objects.get(action="exception-adopt")
    assert entry.actor == checker.user.username and landed.refund_id in entry.detail
    assert f"refund {refund.reference}:" not in checker.get("/staff/exceptions").content.decode()
