"""One checkout for every channel: each channel resumes only its own live payment; anyone
else is told, plainly, that the penalty is being paid right now — the keeper on a page,
the agent on the case, the API client in a 409 problem naming the channel — and nothing
is mixed: no keeper reaches an agent's MOTO card page or a staff page, no agent resumes
a keeper's payment, and each channel's audit entry says what happened."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.test import Client

from penaltypay.audit.models import AuditEntry
from penaltypay.cases.domain import COURT, OPEN
from penaltypay.payments.models import Payment
from penaltypay.payments.refunds import approve_refund, request_refund
from penaltypay.staff.roles import Role
from tests.citizen.conftest import find
from tests.ecs_helpers import deliver

pytestmark = pytest.mark.django_db(transaction=True)

TAKE = "/staff/phone-payments/take"


class Api:
    """A machine client of /api/v1 (its own token)."""

    def __init__(self, *scopes):
        from penaltypay.api.clients import add_client

        self.token = add_client(f"client-{len(scopes)}-{id(self)}", list(scopes), 1000).token

    def create_payment(self, case):
        body = {"reference": case.reference, "registration": case.vrm, "return_url": "https://x.example/r"}
        return Client().post(
            "/api/v1/payments", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {self.token}"
        )


def keeper_presses_pay(case) -> tuple[Client, object]:
    keeper = Client()
    assert find(keeper, case.reference, case.vrm).status_code == 302
    return keeper, keeper.post("/pay", {"email": "keeper@example.com"})


def agent_takes(agent, case):
    return agent.post(TAKE, {"reference": case.reference, "registration": case.vrm, "email": ""})


def test_a_keeper_never_reaches_an_agents_phone_payment(reduced_case, provider, staff_client):
    agent = staff_client(Role.AGENT)
    assert agent_takes(agent, reduced_case).status_code == 303
    phone = Payment.objects.get()

    keeper, answer = keeper_presses_pay(reduced_case)

    assert answer.status_code == 409
    page = answer.content.decode()
    assert "This penalty is being paid right now" in page and "by phone" in page
    assert provider.base_url not in page and "/staff/" not in page
    assert Payment.objects.count() == 1  # nothing new, nothing resumed
    assert str(phone.id) not in keeper.session.get("payments", [])
    assert keeper.get(f"/pay/return/{phone.id}").status_code == 200  # …and its pages show nothing
    assert "We cannot show this payment here" in keeper.get(f"/pay/return/{phone.id}").content.decode()


def test_an_agent_never_resumes_a_keepers_online_payment(reduced_case, provider, staff_client):
    keeper, answer = keeper_presses_pay(reduced_case)
    assert answer.status_code == 303
    online = Payment.objects.get()
    agent = staff_client(Role.AGENT)

    looked_up = agent.post("/staff/phone-payments", {"reference": reduced_case.reference, "registration": "AB12CDE"})
    assert "being paid online by the keeper right now" in looked_up.content.decode()
    taken = agent_takes(agent, reduced_case)

    assert taken.status_code == 409
    assert "being paid online by the keeper right now: nothing was taken" in taken.content.decode()
    online.refresh_from_db()
    assert (Payment.objects.count(), online.channel, online.created_by) == (1, "ONLINE", "")
    assert not provider.payment(online.provider_payment_id).get("moto")
    entry = AuditEntry.objects.filter(actor=agent.user.username, action="take-phone-payment").get()
    assert (entry.outcome, entry.object_id) == ("refused", reduced_case.reference)
    assert online.reference in entry.detail


def test_an_api_client_is_told_which_channel_is_paying(reduced_case, provider):
    keeper_presses_pay(reduced_case)

    answer = Api("cases:read", "payments:write").create_payment(reduced_case)

    assert answer.status_code == 409 and answer["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "/api/v1/problems/payment-in-progress" and problem["channel"] == "ONLINE"
    assert int(answer["Retry-After"]) > 0
    assert Payment.objects.count() == 1


def test_a_keeper_never_reaches_an_api_clients_card_page(reduced_case, provider):
    client = Api("cases:read", "payments:write")
    assert client.create_payment(reduced_case).status_code == 201
    assert client.create_payment(reduced_case).status_code == 200  # the same client resumes its own

    keeper, answer = keeper_presses_pay(reduced_case)

    assert answer.status_code == 409 and "This penalty is being paid right now" in answer.content.decode()


def test_another_keepers_browser_is_told_and_the_same_keeper_resumes(reduced_case, provider):
    first, started = keeper_presses_pay(reduced_case)
    again = first.post("/pay", {"email": "keeper@example.com"})  # the same browser: a double click
    assert started.status_code == again.status_code == 303 and Payment.objects.count() == 1

    _, other = keeper_presses_pay(reduced_case)

    assert other.status_code == 409 and "in another browser" in other.content.decode()


def test_once_the_other_payment_has_ended_the_next_payer_goes_ahead(reduced_case, provider, staff_client):
    agent = staff_client(Role.AGENT)
    agent_takes(agent, reduced_case)
    phone = Payment.objects.get()
    provider.cancel_by_payer(phone.provider_payment_id)  # the caller hung up; the card page was cancelled

    _, answer = keeper_presses_pay(reduced_case)

    assert answer.status_code == 303 and answer["Location"].startswith(provider.base_url)
    phone.refresh_from_db()
    assert phone.status == "failed"
    assert Payment.objects.filter(channel="ONLINE", status="in_progress").count() == 1


def test_a_payment_ecs_never_recorded_and_refunded_in_full_no_longer_counts_as_paid(
    put_case, pay_online, ecs, clock, client
):
    case = put_case(reference="70000555", vrm="RF55FUL")
    payment = pay_online(case)
    ecs.put_case(replace(case, status=COURT))  # ECS closes the case before the payment reaches it
    deliver(ecs, clock)  # ECS refuses it: CASE_CLOSED, an exception
    refund = request_refund(payment.reference, payment.amount_pence, "case-closed", "", by="fin.one")
    from penaltypay.adapters.factories import payment_provider

    assert approve_refund(refund.reference, by="fin.two", note="", client=payment_provider()).status == "success"
    ecs.put_case(replace(case, status=OPEN))  # ECS reopens the case: the penalty is due again

    page = find(client, case.reference, case.vrm)
    shown = client.get("/your-penalty").content.decode()

    assert page.status_code == 302
    assert "£40" in shown and "already been paid" not in shown.lower()
    assert ecs.ledger(case.reference) == []  # ECS never had it
