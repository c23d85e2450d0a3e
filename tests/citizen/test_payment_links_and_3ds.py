"""Payment links instead of hearing card numbers, 3-D Secure on the card page, and card
testing stopped — from outside, as the agent, the keeper and a card tester would."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from penaltypay.audit.models import AuditEntry
from penaltypay.payments.models import Payment, PaymentLink
from penaltypay.staff.roles import Role
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)

THREE_DS_CARD = "4000002500003155"
DECLINED_CARD = "4000000000000002"


def link_path(mailoutbox, address: str) -> str:
    (message,) = [m for m in mailoutbox if address in m.to]
    return re.search(r"https?://[^/\s]+(/pay-link/[A-Za-z0-9_-]+)", message.body).group(1)


def send_link(agent, case, email="keeper@example.com", language="en"):
    return agent.post(
        "/staff/phone-payments/link",
        {"reference": case.reference, "registration": case.vrm, "link_email": email, "language": language},
    )


def pay_on_card_page(keeper: Client, card: str, *, answer: str | None = None):
    """Press Pay, then on the provider's pages type the card (and answer the bank)."""
    import lxml.html

    start = keeper.post("/pay", {"email": "keeper@example.com"})
    assert start.status_code == 303, start.content[:300]
    page = requests.get(start["Location"])
    form = next(f for f in lxml.html.fromstring(page.text).forms if "card_number" in f.fields)
    fields = {
        "card_number": card,
        "expiry_month": "12",
        "expiry_year": str(timezone.now().year + 3),
        "cardholder_name": "Alex Keeper",
        "security_code": "123",
    }
    sent = requests.post(requests.compat.urljoin(page.url, form.action), data=fields, allow_redirects=False)
    if answer is not None:
        assert sent.status_code == 200 and "Confirm it is you" in sent.text
        challenge = lxml.html.fromstring(sent.text).forms[0]
        sent = requests.post(
            requests.compat.urljoin(page.url, challenge.action), data={"answer": answer}, allow_redirects=False
        )
    assert sent.status_code == 303
    back = sent.headers["Location"]
    return keeper.get(back[back.index("/pay/return/") :], follow=True)


def test_an_agent_sends_a_link_and_the_keeper_pays_with_3_d_secure(reduced_case, provider, staff_client, mailoutbox):
    agent = staff_client(Role.AGENT)
    sent = send_link(agent, reduced_case)
    assert sent.status_code == 200 and "Payment link sent" in sent.content.decode()
    path = link_path(mailoutbox, "keeper@example.com")
    assert "AB12CDE" not in mailoutbox[-1].body  # the message names the penalty, never the vehicle

    keeper = Client()  # a fresh browser
    asked = keeper.get(path)
    page = asked.content.decode()
    assert asked.status_code == 200 and "Confirm the vehicle registration number" in page
    assert "AB12CDE" not in page and "£40" not in page  # a forwarded link shows nothing of the case
    wrong = keeper.post(path, {"registration": "ZZ99ZZZ"})
    assert "That is not the registration number" in wrong.content.decode() and "£40" not in wrong.content.decode()
    assert keeper.post(path, {"registration": "ab12 cde"})["Location"] == "/your-penalty"
    assert "£40" in keeper.get("/your-penalty").content.decode()

    done = pay_on_card_page(keeper, THREE_DS_CARD, answer="complete")

    assert "Payment complete" in done.content.decode()
    payment = Payment.objects.get(status="success")
    assert (payment.channel, payment.link_sent_by, payment.three_d_secure_required) == (
        "ONLINE",
        agent.user.username,
        True,
    )
    staff_page = agent.get(f"/staff/payments/{payment.reference}").content.decode()
    assert "3-D Secure" in staff_page and "required" in staff_page and f"sent by {agent.user.username}" in staff_page
    case_page = agent.get(f"/staff/cases/{reduced_case.reference}").content.decode()
    assert ">paid<" in case_page
    again = Client().get(path)
    assert again.status_code == 200 and "This penalty has been paid" in again.content.decode()
    actions = set(AuditEntry.objects.filter(actor=agent.user.username).values_list("action", flat=True))
    assert "send-payment-link" in actions


def test_failing_the_banks_check_declines_and_the_keeper_can_try_again(reduced_case, provider):
    keeper = Client()
    find(keeper, reduced_case.reference, reduced_case.vrm)
    declined = pay_on_card_page(keeper, THREE_DS_CARD, answer="fail")
    page = declined.content.decode()
    assert "Your payment was declined" in page and "Try again" in page and 'href="/your-penalty"' in page
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code, payment.three_d_secure_required) == ("failed", "P0010", True)


def test_an_expired_link_says_so_with_the_normal_look_up(reduced_case, provider, staff_client, mailoutbox):
    send_link(staff_client(Role.AGENT), reduced_case)
    path = link_path(mailoutbox, "keeper@example.com")
    PaymentLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = Client().get(path)
    assert expired.status_code == 410
    assert "This payment link has expired" in expired.content.decode() and 'href="/find-your-penalty"' in (
        expired.content.decode()
    )
    assert Client().get("/pay-link/not-a-real-link").status_code == 410


def test_a_welsh_link_is_sent_in_welsh_and_its_pages_are_welsh(reduced_case, provider, staff_client, mailoutbox):
    send_link(staff_client(Role.AGENT), reduced_case, language="cy")
    assert "Talu eich cosb cerbyd" in mailoutbox[-1].subject
    keeper = Client()
    keeper.get("/find-your-penalty?lang=cy")
    page = keeper.get(link_path(mailoutbox, "keeper@example.com")).content.decode()
    assert "Cadarnhewch rif cofrestru’r cerbyd" in page


def test_five_declines_pause_the_penalty_and_another_penalty_from_another_address_still_pays(
    put_case, provider, staff_client, settings, caplog
):
    import logging

    tested = put_case(reference="70000881", vrm="CT01EST")
    other = put_case(reference="70000882", vrm="OK02CAR")
    with caplog.at_level(logging.INFO, logger="penaltypay.security"):
        for n in range(5):
            tester = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")  # a new address each time
            find(tester, tested.reference, tested.vrm)
            pay_on_card_page(tester, DECLINED_CARD)
    sixth = Client(REMOTE_ADDR="203.0.113.99")
    find(sixth, tested.reference, tested.vrm)
    paused = sixth.post("/pay", {"email": ""})
    page = paused.content.decode()
    assert paused.status_code == 429 and "You cannot pay this penalty online at the moment" in page
    assert "0300 790 6802" in page and int(paused["Retry-After"]) > 3000
    assert [r.scope for r in caplog.records if getattr(r, "security_event", "") == "card_testing_paused"] == ["penalty"]

    someone_else = Client(REMOTE_ADDR="198.51.100.20")
    find(someone_else, other.reference, other.vrm)
    assert "Payment complete" in pay_on_card_page(someone_else, "4444333322221111").content.decode()

    agent = staff_client(Role.AGENT)
    case_page = agent.get(f"/staff/cases/{tested.reference}").content.decode()
    assert "Online payment for this penalty is paused" in case_page
    assert agent.post(f"/staff/cases/{tested.reference}/lift-pause").status_code == 302
    assert AuditEntry.objects.filter(action="lift-card-testing-pause", object_id=tested.reference).exists()
    assert sixth.post("/pay", {"email": ""}).status_code == 303  # the keeper can pay again


def test_twenty_declines_from_one_address_pause_that_address(put_case, provider, settings):
    settings.CARD_TESTING_DECLINES_PER_ADDRESS = 3
    settings.CARD_TESTING_DECLINES_PER_PENALTY = 100
    cases = [put_case(reference=f"7000089{n}", vrm=f"AD{n}DRS") for n in range(4)]
    for case in cases[:3]:
        tester = Client(REMOTE_ADDR="203.0.113.200")
        find(tester, case.reference, case.vrm)
        pay_on_card_page(tester, DECLINED_CARD)
    tester = Client(REMOTE_ADDR="203.0.113.200")
    find(tester, cases[3].reference, cases[3].vrm)
    blocked = tester.post("/pay", {"email": ""})
    assert blocked.status_code == 429 and "from your connection" in blocked.content.decode()
