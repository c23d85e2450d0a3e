"""Reconciliation, reports and feedback pages in Chromium with axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.factories import payment_provider
from penaltypay.reconciliation.run import reconcile_day
from penaltypay.staff.roles import Role
from tests.browser.test_back_office_money import no_violations, signed_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quick_hashing(settings):
    from tests.staff_helpers import QUICK_HASHERS

    settings.PASSWORD_HASHERS = [*QUICK_HASHERS, *settings.PASSWORD_HASHERS]


def test_finance_reads_a_reconciliation_and_a_report(new_context, live_server, today, reduced_case, pay_online, ecs):
    pay_online(reduced_case)
    run = reconcile_day(
        today, provider=payment_provider(), ecs_factory=lambda: EcsClient(ecs.url, timeout=1.0), trigger="command"
    )
    page = signed_in_page(new_context, live_server, "fin.reader", Role.FINANCE)
    page.get_by_role("link", name="Reconciliation").first.click()
    expect(page.locator("h1")).to_have_text("Reconciliation")
    no_violations(page)
    page.get_by_role("link", name=f"Run {run.pk}").click()
    expect(page.locator("main")).to_contain_text("in_flight")
    no_violations(page)
    page.get_by_role("link", name="Reports").first.click()
    expect(page.locator("h1")).to_have_text("Reports")
    expect(page.locator("svg[role=img]").first).to_be_visible()
    no_violations(page)


def test_the_feedback_page_works_and_passes_axe(axe_page, live_server):
    page = axe_page
    page.goto(f"{live_server.url}/feedback?from=banner")
    expect(page.locator("h1")).to_have_text("Give feedback on Pay a vehicle penalty")
    no_violations(page)
    page.get_by_role("button", name="Send feedback").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select how you feel about the service")
    no_violations(page)
    page.get_by_label("Satisfied", exact=True).check()
    page.get_by_label("How could we improve this service?").fill("Clear and quick.")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.locator("h1")).to_have_text("Thank you for your feedback")
    no_violations(page)
