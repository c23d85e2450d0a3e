"""A fleet keeper pays three penalties in one payment: every question about any of the three
cases finds that payment (the case page, the search, the dispute's evidence pack, the
completion-rate KPI), not only the first penalty's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from penaltypay.adapters.factories import ecs_for_lookups, payment_provider
from penaltypay.payments import checkout
from penaltypay.payments.models import Dispute
from penaltypay.payments.settlement import refresh_payment
from penaltypay.reporting.kpis import completion_rate
from penaltypay.reporting.models import Lookup
from penaltypay.staff.evidence import evidence_pack
from penaltypay.staff.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def basket(put_case, provider, today):
    cases = [
        put_case(reference="72000001", vrm="FL01EET"),
        put_case(reference="72000002", vrm="FL01EET"),
        put_case(reference="72000003", vrm="FL02EET", reduction_deadline=today - timedelta(days=1)),
    ]
    client = payment_provider()
    outcome = checkout.check_out_basket(
        [(case, checkout.quote(case).due.total_pence) for case in cases],
        checkout.Payer.keeper("fleet-keeper"),
        email="fleet@example.com",
        language="en",
        payer_reference="PO 4471",
        return_url_for=lambda payment: f"http://testserver/pay/return/{payment.id}",
        client=client,
        source=ecs_for_lookups(),
    )
    assert isinstance(outcome, checkout.Started)
    provider.complete(outcome.payment.provider_payment_id, "4444333322221111")
    refresh_payment(outcome.payment, client, source="return")
    outcome.payment.refresh_from_db()
    return outcome.payment


@pytest.mark.parametrize("reference", ["72000001", "72000002", "72000003"])
def test_an_agent_finds_the_basket_from_each_penaltys_case_page_and_search(basket, staff_client, reference):
    agent = staff_client(Role.AGENT)
    case_page = agent.get(f"/staff/cases/{reference}").content.decode()
    assert basket.reference in case_page

    found = agent.get("/staff/search", {"q": reference}).content.decode()
    assert basket.reference in found and "and 2 more" in found


def test_the_evidence_pack_names_every_penalty_the_payment_paid(basket):
    dispute = Dispute.objects.create(
        provider_dispute_id="dsp-basket-1",
        payment=basket,
        amount_pence=basket.amount_pence,
        reason="fraudulent",
        status="needs_response",
        raised_at=timezone.now(),
    )
    pack = evidence_pack(dispute)
    assert "for 3 penalties" in pack
    for n, (reference, paid) in enumerate((("72000001", "£40"), ("72000002", "£40"), ("72000003", "£80")), start=1):
        section = pack.split(f"What was owed: penalty {n} of 3")[1].split("\n\n")[0]
        assert reference in section and paid in section


def test_a_look_up_of_any_penalty_paid_in_the_basket_completes(basket):
    start = timezone.now() - timedelta(hours=1)
    for reference in ("72000001", "72000002", "72000003"):
        Lookup.objects.create(case_reference=reference, payable=True)
    Lookup.objects.filter().update(at=start)
    kpi = completion_rate(start, start + timedelta(hours=2))
    assert (kpi.numerator, kpi.denominator) == (3, 3)
