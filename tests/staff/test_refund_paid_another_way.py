"""A refund the provider could not make (error) paid another way: one finance user records
the bank transfer or cheque, a second approves, and ECS gets the refund exactly once."""

from __future__ import annotations

import html
import re

import pytest

from penaltypay.adapters.factories import payment_provider
from penaltypay.audit.models import AuditEntry
from penaltypay.ecs.models import OutboxEvent
from penaltypay.payments.models import Refund
from penaltypay.payments.queries import held_against
from penaltypay.payments.refund_offline import decide_paid_another_way, record_paid_another_way
from penaltypay.payments.refund_rules import RefundRuleBroken
from penaltypay.payments.refunds import approve_refund, remaining_refundable, request_refund
from penaltypay.staff.roles import Role
from tests.payments.test_refunds import deliver, ledger

pytestmark = pytest.mark.django_db(transaction=True)


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def failed_refund(reduced_case, pay_online, provider, ecs, clock):
    payment = pay_online(reduced_case)
    deliver(ecs, clock)
    refund = request_refund(payment.reference, 1500, "overpaid", "", by="fin.x")
    provider.configure(fail_next_refunds=1)  # the card was closed: the provider cannot make it
    refund = approve_refund(refund.reference, by="fin.y", note="", client=payment_provider())
    assert refund.status == "error"
    return refund


def test_two_people_record_it_paid_by_transfer_and_ecs_gets_it_once(
    failed_refund, staff_client, reduced_case, ecs, clock
):
    first, second = staff_client(Role.FINANCE), staff_client(Role.FINANCE)
    key = f"refund-failed:{failed_refund.reference}"
    queue = text_of(first.get("/staff/exceptions?kind=refund-failed"))
    assert "Paid another way?" in queue and failed_refund.reference in queue

    missing = first.post("/staff/exceptions/act", {"key": key, "action": "paid-another-way", "note": "card closed"})
    assert missing.status_code == 400 and "bank transfer or cheque" in text_of(missing)
    recorded = first.post(
        "/staff/exceptions/act",
        {
            "key": key,
            "action": "paid-another-way",
            "method": "bank-transfer",
            "reference": "BT 2027/0042",
            "note": "card closed; keeper gave bank details by letter",
        },
    )
    assert recorded.status_code == 302
    assert Refund.objects.get(pk=failed_refund.pk).status == "offline_requested"
    assert not OutboxEvent.objects.filter(refund_reference=failed_refund.reference).exists()

    waiting = f"refund-offline:{failed_refund.reference}"
    own = text_of(first.get("/staff/exceptions?kind=refund-offline"))
    assert "another finance user must approve it" in own and "Approve: it was paid" not in own
    refused = first.post("/staff/exceptions/act", {"key": waiting, "action": "approve", "note": "ok"})
    assert refused.status_code == 400 and "another finance user" in text_of(refused)

    approved = second.post("/staff/exceptions/act", {"key": waiting, "action": "approve", "note": "seen the transfer"})
    assert approved.status_code == 302
    refund = Refund.objects.get(pk=failed_refund.pk)
    assert (refund.status, refund.offline_method, refund.offline_reference, refund.ecs_note) == (
        "paid_offline",
        "bank-transfer",
        "BT 2027/0042",
        "queued",
    )
    assert held_against(reduced_case.reference).pending_pence == -1500  # ECS will take it off
    assert remaining_refundable(refund.payment) == 2500
    deliver(ecs, clock)
    assert ledger(ecs, reduced_case) == [
        ("PAYMENT", refund.payment.reference, 4000),
        ("REFUND", refund.reference, 1500),
    ]
    assert "paid another way, approved" in text_of(second.get(f"/staff/payments/{refund.payment.reference}"))
    assert AuditEntry.objects.filter(action="refund-offline-approve", object_id=refund.reference).count() == 1
    with pytest.raises(RefundRuleBroken):
        decide_paid_another_way(refund.reference, approve=True, by="fin.z", note="again")
    assert OutboxEvent.objects.filter(refund_reference=refund.reference).count() == 1


def test_a_rejection_puts_it_back_and_the_rules_hold(failed_refund):
    with pytest.raises(RefundRuleBroken, match="reference"):
        record_paid_another_way(failed_refund.reference, method="cheque", reference="", by="fin.a", note="")
    with pytest.raises(RefundRuleBroken, match="bank transfer or cheque"):
        record_paid_another_way(failed_refund.reference, method="cash", reference="1", by="fin.a", note="")
    record_paid_another_way(failed_refund.reference, method="cheque", reference="000123", by="fin.a", note="")
    with pytest.raises(RefundRuleBroken, match="another finance user"):
        decide_paid_another_way(failed_refund.reference, approve=False, by="FIN.A", note="")
    back = decide_paid_another_way(failed_refund.reference, approve=False, by="fin.b", note="cheque not cashed")
    assert back.status == "error"
    assert not OutboxEvent.objects.filter(refund_reference=failed_refund.reference).exists()
    # Meanwhile more was refunded: it can no longer be paid in full another way.
    request_refund(failed_refund.payment.reference, 2600, "other", "", by="fin.c")
    with pytest.raises(RefundRuleBroken, match="no longer be paid in full"):
        record_paid_another_way(failed_refund.reference, method="cheque", reference="000124", by="fin.a", note="")
