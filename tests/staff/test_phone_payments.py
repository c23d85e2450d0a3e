"""An agent takes a payment by phone: the case as the keeper reads it, the amount due now,
a MOTO payment on the provider's card page, and back to the payment in the back office."""

from __future__ import annotations

import threading

import pytest
from django.test import Client

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.audit.models import AuditEntry
from penaltypay.ecs.outbox_worker import OutboxWorker
from penaltypay.payments.ecs_sync import record_delivered
from penaltypay.payments.models import Payment
from penaltypay.staff.roles import Role

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_agent_takes_a_phone_payment_and_it_reaches_ecs_as_phone(
    reduced_case, provider, ecs, staff_client, clock, mailoutbox
):
    agent = staff_client(Role.AGENT)
    due = agent.post("/staff/phone-payments", {"reference": "7000 0001", "registration": "ab12 cde"})
    page = due.content.decode()
    assert "Amount due now: £40" in page and "Take payment by phone" in page
    response = agent.post(
        "/staff/phone-payments/take",
        {"reference": "70000001", "registration": "AB12CDE", "email": "keeper@example.com"},
    )
    assert response.status_code == 303 and response["Location"].startswith(provider.base_url)
    payment = Payment.objects.get()
    assert (payment.channel, payment.created_by, payment.amount_pence) == ("PHONE", agent.user.username, 4000)
    assert provider.payment(payment.provider_payment_id)["moto"] is True

    provider.complete(payment.provider_payment_id, "4444333322221111")
    # The provider's redirect back is cross-site: it carries no staff cookie.
    back = Client().get(f"/staff/phone-payments/return/{payment.id}")
    body = back.content.decode()
    assert back.status_code == 200 and f'href="/staff/payments/{payment.reference}"' in body
    assert "keeper@example.com" not in body and "AB12CDE" not in body
    payment.refresh_from_db()
    assert payment.status == "success"
    assert any("Payment received" in m.subject for m in mailoutbox)

    timeline = agent.get(f"/staff/payments/{payment.reference}").content.decode()
    assert "Payment of 4000 pence created (PHONE)" in timeline and agent.user.username in timeline

    worker = OutboxWorker(
        lambda: EcsClient(ecs.url, timeout=1.0),
        on_delivered=record_delivered,
        concurrency=1,
        lease_seconds=30,
        respect_batch_window=False,
        clock=clock,
        rng=lambda: 0.0,
    )
    worker.run(threading.Event(), until_idle=True)
    entries = ecs.ledger("70000001")
    assert [(e.payment_reference, e.channel) for e in entries] == [(payment.reference, "PHONE")]
    actions = list(AuditEntry.objects.filter(actor=agent.user.username).order_by("id").values_list("action", flat=True))
    assert actions[:3] == ["sign-in", "phone-payment-look-up", "take-phone-payment"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reference": "", "registration": ""}, "Enter the penalty reference"),
        ({"reference": "1234", "registration": "AB12CDE"}, "The penalty reference is 8 numbers"),
        ({"reference": "70000001", "registration": "!!"}, "Enter the registration as it is on the letter"),
        ({"reference": "70000001", "registration": "ZZ99ZZZ"}, "No penalty matches that reference and registration"),
    ],
)
def test_the_agent_is_told_what_to_check(reduced_case, staff_client, data, message):
    page = staff_client(Role.AGENT).post("/staff/phone-payments", data).content.decode()
    assert "There is a problem" in page and message in page


def test_the_amount_is_never_taken_from_the_form(reduced_case, provider, staff_client):
    agent = staff_client(Role.AGENT)
    agent.post(
        "/staff/phone-payments/take",
        {"reference": "70000001", "registration": "AB12CDE", "amount": "1", "amount_pence": "1"},
    )
    assert Payment.objects.get().amount_pence == 4000


def test_a_bad_email_is_refused(reduced_case, provider, staff_client):
    response = staff_client(Role.AGENT).post(
        "/staff/phone-payments/take", {"reference": "70000001", "registration": "AB12CDE", "email": "not an email"}
    )
    assert response.status_code == 400 and "Enter the email address in the correct format" in response.content.decode()
    assert not Payment.objects.exists()


def test_the_return_page_knows_only_phone_payments(reduced_case, pay_online):
    online = pay_online(reduced_case)
    assert Client().get(f"/staff/phone-payments/return/{online.id}").status_code == 404


def test_cards_declined_on_one_agents_phone_payments_pause_that_agent(put_case, provider, staff_client, settings):
    """A caller reading card after card to an agent: the agent's phone payments pause (the
    declines count on each penalty too), and the agent is told until when."""
    settings.CARD_TESTING_DECLINES_PER_AGENT = 3
    settings.CARD_TESTING_DECLINES_PER_PENALTY = 100
    agent = staff_client(Role.AGENT)
    cases = [put_case(reference=f"7000077{n}", vrm=f"PH{n}ONE") for n in range(4)]
    for case in cases[:3]:
        taken = agent.post("/staff/phone-payments/take", {"reference": case.reference, "registration": case.vrm})
        assert taken.status_code == 303
        payment = Payment.objects.get(lines__case_reference=case.reference)
        provider.complete(payment.provider_payment_id, "4000000000000002")  # declined
        Client().get(f"/staff/phone-payments/return/{payment.id}")
        payment.refresh_from_db()
        assert (payment.status, payment.failure_code) == ("failed", "P0010")
    refused = agent.post("/staff/phone-payments/take", {"reference": cases[3].reference, "registration": cases[3].vrm})
    assert refused.status_code == 429
    assert "Too many cards were declined on your phone payments" in refused.content.decode()
    other_agent = staff_client(Role.AGENT)
    allowed = other_agent.post(
        "/staff/phone-payments/take", {"reference": cases[3].reference, "registration": cases[3].vrm}
    )
    assert allowed.status_code == 303


def test_at_the_providers_rate_limit_the_agent_is_told_the_seconds_and_the_attempt_is_audited(
    reduced_case, provider, staff_client, settings
):
    """Phone payments share the service's turns at the provider's limit (ADR 0027)."""
    from tests.providers import hold_the_providers_turns

    settings.PAY_RATE_LIMIT_MAX_WAIT_SECONDS = 1
    agent = staff_client(Role.AGENT)  # signing in takes a while on a busy machine: before the turns are booked
    hold_the_providers_turns(5)  # keepers hold every turn for five seconds
    response = agent.post(
        "/staff/phone-payments/take", {"reference": "70000001", "registration": "AB12CDE", "email": ""}
    )
    assert response.status_code == 503
    assert "The card payment service is busy. Nothing was taken: try again in" in response.content.decode()
    assert not Payment.objects.filter(status__in=["new", "in_progress", "create_unknown"]).exists()
    entry = AuditEntry.objects.filter(action="take-phone-payment").latest("id")
    assert (entry.actor, entry.outcome, entry.object_id) == (agent.user.username, "refused", "70000001")
    assert entry.detail.startswith("provider busy")
