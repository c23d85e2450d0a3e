"""The keeper's journey in a real browser: our pages, the sandbox provider's card
page, and back. Mirrors tests/citizen/test_payment_journey.py, but through the
rendered HTML, the GOV.UK Frontend JavaScript and the Content Security Policy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment
from tests.browser.journey import (
    DECLINED_CARD,
    SUCCESS_CARD,
    continue_to_card_page,
    find,
    main_text,
    pay_on_card_page,
    start_and_find,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOT_FOUND = "We could not find a penalty with that reference and registration number"


def assert_on_confirmation_page(page, live_server, case, mailoutbox):
    expect(page).to_have_url(re.compile("^" + re.escape(live_server.url) + r"/pay/complete/[0-9a-f-]+$"))
    expect(page.locator("h1")).to_have_text("Payment complete")
    payment = Payment.objects.get(status=PaymentStatus.SUCCESS.value)
    main = main_text(page)
    assert payment.reference in main
    assert "£40" in main and case.reference in main
    assert "keeper@example.com" in main  # "We have sent a receipt to ..."
    # The receipt went while the keeper was coming back: the live server runs in
    # this process, so pytest-django's locmem outbox sees it.
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["keeper@example.com"] and payment.reference in mailoutbox[0].body
    assert payment.receipt_sent_at is not None
    return payment


def test_a_keeper_finds_the_penalty_and_pays_with_a_success_card(page, live_server, reduced_case, provider, mailoutbox):
    # Typed as people type it: a space in the reference, the plate in lower case.
    start_and_find(page, "7000 0001", "ab12 cde")

    expect(page).to_have_url(re.compile(r"/your-penalty$"))
    expect(page.locator("h1")).to_have_text("You need to pay £40")
    penalty = main_text(page)
    assert "70000001" in penalty and "AB12CDE" in penalty and "Blue Ford" in penalty

    continue_to_card_page(page, provider)
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.IN_PROGRESS.value and payment.amount_pence == 4000
    expect(page.locator("main")).to_contain_text("£40.00")

    pay_on_card_page(page, SUCCESS_CARD)

    payment = assert_on_confirmation_page(page, live_server, reduced_case, mailoutbox)
    assert payment.card_last_four == "1111"
    assert page.console_errors == [], "the browser reported errors (a CSP violation?)"

    # The confirmation ended the session: a reload shows nothing of the payment (the next
    # person at this computer learns nothing), changes nothing and sends nothing more...
    page.reload()
    expect(page.locator("h1")).to_have_text("We cannot show this payment here")
    assert payment.reference not in main_text(page) and "keeper@example.com" not in main_text(page)
    assert len(mailoutbox) == 1
    # ...and found again, the penalty shows as paid, even before ECS has heard about it.
    find(page, "7000 0001", "ab12 cde")
    expect(page.locator("h1")).to_have_text("This penalty has already been paid")


def test_a_declined_card_can_be_tried_again(page, live_server, reduced_case, provider, mailoutbox):
    find(page, "7000 0001", "ab12 cde")
    continue_to_card_page(page, provider)
    pay_on_card_page(page, DECLINED_CARD)

    expect(page).to_have_url(re.compile("^" + re.escape(live_server.url) + r"/pay/return/"))
    expect(page.locator("h1")).to_have_text("Your payment was declined")
    declined = Payment.objects.get()
    assert declined.status == PaymentStatus.FAILED.value and declined.failure_code == "P0010"
    expect(page.locator("main")).to_contain_text(declined.reference)
    assert len(mailoutbox) == 0

    page.get_by_role("button", name="Try again").click()
    expect(page.locator("h1")).to_have_text("You need to pay £40")
    page.get_by_role("button", name="Continue to payment").click()
    # The receipt address is remembered from the first attempt.
    expect(page.get_by_label("Email address for your receipt (optional)")).to_have_value("keeper@example.com")
    page.get_by_role("button", name="Pay £40 now").click()
    expect(page).to_have_url(re.compile("^" + re.escape(provider.base_url) + "/"))
    pay_on_card_page(page, SUCCESS_CARD)

    second = assert_on_confirmation_page(page, live_server, reduced_case, mailoutbox)
    assert second.pk != declined.pk
    assert Payment.objects.count() == 2
    assert page.console_errors == []


def test_cancelling_on_the_card_page_comes_back_to_say_nothing_was_taken(page, reduced_case, provider, mailoutbox):
    find(page, "70000001", "AB12CDE")
    continue_to_card_page(page, provider)
    page.get_by_role("button", name="Cancel payment").click()

    expect(page.locator("h1")).to_have_text("Your payment was cancelled")
    expect(page.locator("main")).to_contain_text("no money has been taken")
    assert Payment.objects.get().status != PaymentStatus.SUCCESS.value
    assert mailoutbox == []


def _normalised(text: str, *typed: str) -> str:
    for value in typed:
        text = text.replace(value, "<typed>")
    return text


def test_an_unknown_reference_and_a_wrong_vehicle_look_exactly_the_same(page, reduced_case):
    find(page, "9999 9999", "ab12 cde")
    unknown_title = page.title()
    unknown = _normalised(main_text(page), "9999 9999", "99999999", "ab12 cde", "AB12CDE")
    assert NOT_FOUND in unknown

    find(page, "7000 0001", "zz99 zzz")
    mismatch_title = page.title()
    mismatch = _normalised(main_text(page), "7000 0001", "70000001", "zz99 zzz", "ZZ99ZZZ")

    assert unknown == mismatch
    assert unknown_title == mismatch_title and unknown_title.startswith("Error:")

    # GOV.UK Frontend focuses the summary on arrival; its link takes the keeper to the field.
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    summary.get_by_role("link", name=re.compile(NOT_FOUND)).click()
    expect(page.get_by_label("Penalty reference")).to_be_focused()


def test_each_error_summary_link_moves_focus_to_its_field(page, ecs):
    find(page, "", "")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("There is a problem")

    summary.get_by_role("link", name="Enter your penalty reference").click()
    expect(page.get_by_label("Penalty reference")).to_be_focused()
    summary.get_by_role("link", name="Enter the vehicle registration number").click()
    expect(page.get_by_label("Vehicle registration number")).to_be_focused()
    # Each field also carries its own message, tied to it for screen readers.
    expect(page.get_by_label("Penalty reference")).to_have_attribute("aria-describedby", re.compile(r"reference-error"))
    expect(page.get_by_label("Vehicle registration number")).to_have_attribute(
        "aria-describedby", re.compile(r"registration-error")
    )


def test_the_whole_journey_works_without_javascript(new_context, live_server, reduced_case, provider, mailoutbox):
    page = new_context(java_script_enabled=False).new_page()

    start_and_find(page, "7000 0001", "ab12 cde")
    # GOV.UK Frontend's inline script never ran, so we really are without JavaScript.
    assert page.locator("body.js-enabled").count() == 0
    expect(page.locator("h1")).to_have_text("You need to pay £40")

    continue_to_card_page(page, provider)
    pay_on_card_page(page, SUCCESS_CARD)

    assert_on_confirmation_page(page, live_server, reduced_case, mailoutbox)


def test_every_file_our_pages_ask_for_is_served(page, reduced_case):
    """Stylesheets, scripts, fonts and images: a 404 here means a page that looks
    or behaves differently from the one that was designed and tested."""
    page.goto("/")
    page.wait_for_load_state("networkidle")
    find(page, "70000001", "AB12CDE")
    page.wait_for_load_state("networkidle")
    expect(page.locator("h1")).to_have_text("You need to pay £40")
    assert page.locator("body.govuk-frontend-supported").count() == 1
    assert page.failed_requests == [], "\n".join(["these failed to load:", *page.failed_requests])
    assert page.console_errors == []
