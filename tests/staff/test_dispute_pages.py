"""Disputes in the back office: an open dispute waits on the exceptions queue with its
evidence deadline; finance downloads the evidence pack and notes what was sent; the payment
page and its timeline show the dispute's life. Who may do what is checked on the server."""

from __future__ import annotations

import html
import re

import pytest

from penaltypay.adapters.factories import payment_provider
from penaltypay.audit.models import AuditEntry
from penaltypay.payments.disputes import sync_disputes
from penaltypay.payments.models import Dispute
from penaltypay.staff.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


def text_of(response) -> str:
    """The page's words, as a person reads them (no markup, entities decoded)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


@pytest.fixture
def disputed(reduced_case, pay_online, provider):
    provider.configure(dispute_open_seconds=0, dispute_decide_seconds=3600)
    payment = pay_online(reduced_case, card="4000000000002685")
    sync_disputes(payment_provider())
    return payment


def test_finance_sees_the_dispute_downloads_the_pack_and_notes_the_evidence(disputed, staff_client, provider):
    finance = staff_client(Role.FINANCE)
    dispute = Dispute.objects.get()

    queue = text_of(finance.get("/staff/exceptions?kind=disputed"))
    assert "Disputed by the payer's bank (1)" in queue
    assert dispute.provider_dispute_id in queue and "evidence due" in queue and "no evidence sent yet" in queue

    pack = finance.get(f"/staff/disputes/{dispute.provider_dispute_id}/evidence")
    assert pack.status_code == 200
    assert pack["Content-Type"] == "text/plain; charset=utf-8"
    assert pack["Content-Disposition"] == f'attachment; filename="evidence-{dispute.provider_dispute_id}.txt"'
    text = pack.content.decode()
    for expected in (
        dispute.provider_dispute_id,
        disputed.reference,
        "AB12CDE",
        "Visa ending 2685",
        "3-D Secure",
        "penalty reference and the vehicle registration",
        "Receipt",
        "Timeline",
    ):
        assert expected in text, expected
    assert AuditEntry.objects.filter(action="download-dispute-evidence", object_id=disputed.reference).exists()

    key = f"disputed:{dispute.provider_dispute_id}"
    empty = finance.post("/staff/exceptions/act", {"key": key, "action": "evidence-sent", "note": ""})
    assert empty.status_code == 400
    sent = finance.post(
        "/staff/exceptions/act", {"key": key, "action": "evidence-sent", "note": "pack and receipt uploaded"}
    )
    assert sent.status_code == 302
    dispute.refresh_from_db()
    assert dispute.evidence_sent_by == finance.user.username and dispute.evidence_note == "pack and receipt uploaded"
    assert "evidence sent by" in text_of(finance.get("/staff/exceptions?kind=disputed"))

    page = text_of(finance.get(f"/staff/payments/{disputed.reference}"))
    assert "Disputes" in page and "needs response" in page and "pack and receipt uploaded" in page
    assert "the payer's bank disputes the payment" in page

    provider.configure(dispute_decide_seconds=0)
    sync_disputes(payment_provider())
    assert "No exceptions" in text_of(finance.get("/staff/exceptions?kind=disputed"))
    assert "won: the money stays with us" in text_of(finance.get(f"/staff/payments/{disputed.reference}"))


def test_only_finance_reads_the_pack_or_answers_a_dispute(disputed, staff_client):
    dispute = Dispute.objects.get()
    agent, support = staff_client(Role.AGENT), staff_client(Role.SUPPORT)
    assert agent.get(f"/staff/disputes/{dispute.provider_dispute_id}/evidence").status_code == 403
    assert support.get(f"/staff/disputes/{dispute.provider_dispute_id}/evidence").status_code == 403
    refused = support.post(
        "/staff/exceptions/act",
        {"key": f"disputed:{dispute.provider_dispute_id}", "action": "evidence-sent", "note": "sent"},
    )
    assert refused.status_code == 403
    assert Dispute.objects.get().evidence_sent_at is None
    assert staff_client(Role.FINANCE).get("/staff/disputes/NOSUCHDISPUTE/evidence").status_code == 404
