"""Money in the back office, in Chromium with axe-core: a refund asked by one finance user
and approved by another reaching the ECS simulator; a phone payment on the provider's card
page; a payment ECS refused, refunded from the exceptions list."""

from __future__ import annotations

from dataclasses import replace

import pytest
from playwright.sync_api import Page, expect

from penaltypay.cases.domain import COURT
from penaltypay.payments.models import Payment, Refund
from penaltypay.staff.roles import Role
from tests.browser.journey import axe_violations, describe_violations, pay_on_card_page
from tests.ecs_helpers import deliver
from tests.staff_helpers import PASSWORD, QUICK_HASHERS, code_for, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quick_hashing(settings):
    settings.PASSWORD_HASHERS = [*QUICK_HASHERS, *settings.PASSWORD_HASHERS]


def no_violations(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n" + describe_violations(violations)


def signed_in_page(new_context, live_server, username: str, *roles: Role) -> Page:
    user, device = make_staff(username, *roles)
    page = new_context(bypass_csp=True).new_page()
    page.goto(f"{live_server.url}/staff/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Security code").fill(code_for(device))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Penalty payments back office")
    return page


def test_a_asks_b_approves_and_the_refund_reaches_ecs(new_context, live_server, reduced_case, pay_online, ecs, clock):
    payment = pay_online(reduced_case)
    asker = signed_in_page(new_context, live_server, "fin.asker", Role.FINANCE)
    asker.goto(f"{live_server.url}/staff/payments/{payment.reference}")
    no_violations(asker)
    asker.get_by_role("link", name="Request refund").click()
    expect(asker.locator("h1")).to_have_text("Request a refund")
    asker.get_by_role("button", name="Request refund").click()
    expect(asker.locator(".govuk-error-summary")).to_contain_text("Enter the amount to refund")
    no_violations(asker)
    asker.get_by_label("Amount").fill("15.00")
    asker.get_by_label("Paid more than was due").check()
    asker.get_by_role("button", name="Request refund").click()
    expect(asker.locator("main")).to_contain_text("another finance user must approve or reject it")
    assert asker.get_by_role("button", name="Approve refund").count() == 0  # not for the asker
    no_violations(asker)

    approver = signed_in_page(new_context, live_server, "fin.approver", Role.FINANCE)
    approver.goto(f"{live_server.url}/staff/payments/{payment.reference}")
    approver.get_by_role("button", name="Approve refund").click()
    expect(approver.locator("main")).to_contain_text("Queued for ECS: refund")
    no_violations(approver)
    refund = Refund.objects.get()
    assert (refund.status, refund.requested_by, refund.decided_by) == ("success", "fin.asker", "fin.approver")
    deliver(ecs, clock)
    ledger = [(e.kind, e.refund_reference or e.payment_reference) for e in ecs.ledger(reduced_case.reference)]
    assert ledger == [("PAYMENT", payment.reference), ("REFUND", refund.reference)]


def test_an_agent_takes_a_payment_by_phone(new_context, live_server, reduced_case, provider):
    agent = signed_in_page(new_context, live_server, "phone.agent", Role.AGENT)
    agent.get_by_role("link", name="Phone payment").first.click()
    expect(agent.locator("h1")).to_have_text("Take a payment by phone")
    no_violations(agent)
    agent.get_by_label("Penalty reference").fill("7000 0001")
    agent.get_by_label("Vehicle registration number").fill("ab12 cde")
    agent.get_by_role("button", name="Find the penalty").click()
    expect(agent.locator("h1")).to_have_text("Amount due now: £40")
    no_violations(agent)
    agent.get_by_label("Keeper's email address for the receipt (optional)").fill("keeper@example.com")
    agent.get_by_role("button", name="Take payment by phone").click()
    expect(agent.locator("h1")).to_have_text("Enter card details")
    pay_on_card_page(agent, "4444333322221111")
    expect(agent.locator("h1")).to_have_text(Payment.objects.get().reference)  # back, signed in
    payment = Payment.objects.get()
    assert (payment.status, payment.channel, payment.created_by) == ("success", "PHONE", "phone.agent")
    assert provider.payment(payment.provider_payment_id)["moto"] is True
    expect(agent.locator("main")).to_contain_text("Payment of 4000 pence created (PHONE)")
    no_violations(agent)


def test_a_payment_ecs_refused_is_refunded_from_the_exceptions_list(
    new_context, live_server, put_case, pay_online, ecs, clock
):
    case = put_case(reference="70000555", vrm="CL05ED")
    payment = pay_online(case)
    ecs.put_case(replace(case, status=COURT))
    deliver(ecs, clock)
    asker = signed_in_page(new_context, live_server, "fin.one", Role.FINANCE)
    asker.get_by_role("link", name="Exceptions").first.click()
    expect(asker.locator("main")).to_contain_text("CASE_CLOSED")
    no_violations(asker)
    asker.get_by_role("button", name="Refund the keeper").click()
    expect(asker.locator("h1")).to_have_text("Request a refund")
    expect(asker.get_by_label("Amount")).to_have_value("40.00")
    asker.get_by_role("button", name="Request refund").click()

    approver = signed_in_page(new_context, live_server, "fin.two", Role.FINANCE)
    approver.goto(f"{live_server.url}/staff/payments/{payment.reference}")
    approver.get_by_role("button", name="Approve refund").click()
    expect(approver.locator("main")).to_contain_text("success")
    approver.get_by_role("link", name="Exceptions").first.click()
    expect(approver.locator("main")).to_contain_text("No exceptions.")
    no_violations(approver)
