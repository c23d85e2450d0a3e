"""Every page of ours a keeper can reach, scanned with axe-core (WCAG 2.2 AA and
best practice), with one h1 and a real <title> each.

The sandbox provider's card page is not ours (in production it is the real
provider's) and is not scanned here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import expect

from penaltypay.cases.domain import COURT, DEBT_RECOVERY, NO_PAYMENT_REQUIRED, PAID
from penaltypay.payments.models import Payment
from tests.browser.journey import (
    DECLINED_CARD,
    ERROR_CARD,
    LANGUAGE,
    SUCCESS_CARD,
    axe_violations,
    describe_violations,
    find,
    t,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@dataclass
class Env:
    """The fixtures a page may need to be reached."""

    reduced_case: Any
    put_case: Any
    provider: Any
    ecs: Any
    settings: Any


def _found(page, env):
    find(page, "7000 0001", "ab12 cde")


def _at_pay_page(page, env):
    _found(page, env)
    page.goto("/pay")


def _on_card_page(page, env):
    """Through our pages to the provider's; returns our payment."""
    _at_pay_page(page, env)
    page.get_by_label(t("Email address for your receipt (optional)")).fill("keeper@example.com")
    page.get_by_role("button", name=t("Pay %(amount)s now", amount="£40")).click()
    page.wait_for_url(env.provider.base_url + "/**")
    return Payment.objects.get()


def _come_back_after(drive):
    """The provider finishes the payment as `drive` says; the keeper's browser comes back."""

    def reach(page, env):
        payment = _on_card_page(page, env)
        drive(env.provider, payment.provider_payment_id)
        page.goto(f"/pay/return/{payment.id}")

    return reach


def _not_payable(**case):
    def reach(page, env):
        env.put_case(reference="71000001", vrm="AB12CDE", **case)
        find(page, "71000001", "AB12CDE")

    return reach


def _with_errors(reach):
    """The same page shown again with an error summary (which must be there to be scanned)."""

    def reach_and_check(page, env):
        reach(page, env)
        expect(page.locator(".govuk-error-summary")).to_contain_text(t("There is a problem"))
        expect(page.locator(".govuk-error-message").first).to_be_visible()

    return reach_and_check


def _pay_error(page, env):
    _at_pay_page(page, env)
    page.get_by_label(t("Email address for your receipt (optional)")).fill("not-an-email")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Pay %(amount)s now", amount="£40")).click()


def _provider_down(page, env):
    _at_pay_page(page, env)
    env.settings.PAY_API_URL = "http://127.0.0.1:9"  # nothing listens there
    with page.expect_navigation():
        page.get_by_role("button", name=t("Pay %(amount)s now", amount="£40")).click()


def _too_many_attempts(page, env):
    env.settings.LOOKUP_RATE_LIMIT_PER_REFERENCE = 1
    find(page, "70000001", "ZZ99ZZZ")
    find(page, "70000001", "AB12CDE")


def _ecs_down(page, env):
    env.ecs.set_faults(unavailable=True)
    find(page, "12345678", "AB12CDE")  # a case we have never held


def _expired_form(page, env):
    page.goto("/find-your-penalty")
    page.context.clear_cookies()  # as if the session and CSRF cookie had expired
    page.get_by_label(t("Penalty reference")).fill("70000001")
    page.get_by_label(t("Vehicle registration number")).fill("AB12CDE")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Continue"), exact=True).click()


def _payment_seen_from_another_browser(page, env):
    payment = _on_card_page(page, env)
    page.context.clear_cookies()  # someone else, with only the link
    page.goto(f"/pay/complete/{payment.id}")


# page id -> (how to get there, the h1 that proves we got there)
PAGES = {
    "start": (lambda page, env: page.goto("/"), "Pay a vehicle enforcement penalty"),
    "find": (lambda page, env: page.goto("/find-your-penalty"), "Find your penalty"),
    "find-field-errors": (_with_errors(lambda page, env: find(page, "", "")), "Find your penalty"),
    "find-not-found": (_with_errors(lambda page, env: find(page, "99999999", "AB12CDE")), "Find your penalty"),
    "your-penalty": (_found, ("You need to pay %(amount)s", {"amount": "£40"})),
    "receipt-email": (_at_pay_page, "Email address for your receipt (optional)"),
    "receipt-email-error": (_with_errors(_pay_error), "Email address for your receipt (optional)"),
    "confirmation": (_come_back_after(lambda p, pid: p.complete(pid, SUCCESS_CARD)), "Payment complete"),
    "declined": (_come_back_after(lambda p, pid: p.complete(pid, DECLINED_CARD)), "Your payment was declined"),
    "provider-error": (
        _come_back_after(lambda p, pid: p.complete(pid, ERROR_CARD)),
        "Sorry, there was a problem with your payment",
    ),
    "cancelled-by-you": (_come_back_after(lambda p, pid: p.cancel_by_payer(pid)), "Your payment was cancelled"),
    "timed-out": (_come_back_after(lambda p, pid: p.expire(pid)), "Your payment session has timed out"),
    "still-checking": (_come_back_after(lambda p, pid: None), "We are checking your payment"),
    "payment-unavailable": (_provider_down, "Sorry, you cannot pay at the moment"),
    "already-paid": (_not_payable(status=PAID, amount_paid_pence=4000), "This penalty has already been paid"),
    "debt-recovery": (_not_payable(status=DEBT_RECOVERY), "You cannot pay this penalty online"),
    "court": (_not_payable(status=COURT), "You cannot pay this penalty online"),
    "no-payment-required": (_not_payable(status=NO_PAYMENT_REQUIRED), "You do not need to pay this penalty"),
    "type-not-payable-online": (_not_payable(case_type="23B"), "You cannot pay this penalty online"),
    "nothing-due": (
        _not_payable(penalty_pence=0, reduced_penalty_pence=0, reduction_deadline=None),
        "There is nothing to pay on this penalty",
    ),
    "too-many-attempts": (_too_many_attempts, "Too many attempts"),
    "service-unavailable": (_ecs_down, "Sorry, we cannot find your penalty at the moment"),
    "session-expired": (_expired_form, "Your session has expired"),
    "not-found-404": (lambda page, env: page.goto("/no-such-page"), "Page not found"),
    "payment-elsewhere": (_payment_seen_from_another_browser, "We cannot show this payment here"),
}


def _feedback_error(page, env):
    page.goto("/feedback")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Send feedback")).click()


def _maintenance(page, env):
    env.settings.MAINTENANCE_MODE = True
    page.goto("/find-your-penalty")


PAGES.update(
    {
        "feedback": (lambda page, env: page.goto("/feedback"), "Give feedback on Pay a vehicle penalty"),
        "feedback-error": (_with_errors(_feedback_error), "Give feedback on Pay a vehicle penalty"),
        "help": (lambda page, env: page.goto("/help"), "Help and contact"),
        "accessibility-statement": (
            lambda page, env: page.goto("/accessibility-statement"),
            "Accessibility statement for Pay a vehicle penalty",
        ),
        "privacy": (lambda page, env: page.goto("/privacy"), "Privacy notice"),
        "cookies": (lambda page, env: page.goto("/cookies"), "Cookies"),
        "maintenance": (_maintenance, "Sorry, the service is unavailable"),
    }
)


def _made_link(env, **changes):
    """A payment link for the reduced case, as an agent sends it; returns its path."""
    from django.utils import timezone

    from penaltypay.payments import links
    from penaltypay.payments.models import PaymentLink

    links.send(
        env.reduced_case.reference,
        by="an.agent",
        email="k@example.com",
        mobile="",
        language="en",
        base="http://testserver",
    )
    import re

    from django.core import mail

    path = re.search(r"(/pay-link/[A-Za-z0-9_-]+)", mail.outbox[-1].body).group(1)
    if changes:
        PaymentLink.objects.update(**{k: (timezone.now() if v == "now" else v) for k, v in changes.items()})
    return path


def _link_confirm(page, env):
    page.goto(_made_link(env))


def _link_wrong_registration(page, env):
    page.goto(_made_link(env))
    page.get_by_label(t("Confirm the vehicle registration number")).fill("ZZ99ZZZ")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Continue"), exact=True).click()


def _link_expired(page, env):
    from datetime import timedelta

    from django.utils import timezone

    page.goto(_made_link(env, expires_at=timezone.now() - timedelta(days=1)))


def _link_paid(page, env):
    page.goto(_made_link(env, paid_at="now"))


def _paused(page, env):
    from penaltypay.payments import card_testing

    for _ in range(env.settings.CARD_TESTING_DECLINES_PER_PENALTY):
        card_testing.note_declines(["70000001"], "")
    _at_pay_page(page, env)
    with page.expect_navigation():
        page.get_by_role("button", name=t("Pay %(amount)s now", amount="£40")).click()


def _being_paid_by_phone(page, env):
    from penaltypay.payments.models import Payment

    _at_pay_page(page, env)
    Payment.objects.create(
        reference="PP-PHON-E001",
        first_case_reference="70000001",
        case_type="7A",
        amount_pence=4000,
        description="x",
        status="new",
        channel="PHONE",
        owner="staff:an.agent",
    )
    with page.expect_navigation():
        page.get_by_role("button", name=t("Pay %(amount)s now", amount="£40")).click()


PAGES.update(
    {
        "payment-link": (_link_confirm, "Confirm the vehicle registration number"),
        "payment-link-error": (_with_errors(_link_wrong_registration), "Confirm the vehicle registration number"),
        "payment-link-expired": (_link_expired, "This payment link has expired"),
        "payment-link-paid": (_link_paid, "This penalty has been paid"),
        "card-testing-paused": (_paused, "You cannot pay this penalty online at the moment"),
        "being-paid-by-phone": (_being_paid_by_phone, "This penalty is being paid right now"),
    }
)


def _reminder_form(page, env):
    _found(page, env)
    with page.expect_navigation():
        page.get_by_role("link", name=t("Get a reminder before the reduced amount ends")).click()


def _reminder_error(page, env):
    _reminder_form(page, env)
    page.get_by_label(t("Get a reminder before the reduced amount ends")).fill("not an address")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Get a reminder"), exact=True).click()


def _reminder_set(page, env):
    _reminder_form(page, env)
    page.get_by_label(t("Get a reminder before the reduced amount ends")).fill("keeper@example.com")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Get a reminder"), exact=True).click()


def _reminder_stop(page, env):
    _reminder_set(page, env)
    from penaltypay.reminders.models import Reminder

    page.goto(f"/reminders/stop/{Reminder.objects.get().stop_token}")


PAGES.update(
    {
        "reminder": (_reminder_form, "Get a reminder before the reduced amount ends"),
        "reminder-error": (_with_errors(_reminder_error), "Get a reminder before the reduced amount ends"),
        "reminder-set": (_reminder_set, "Check your email"),
        "reminder-stop": (_reminder_stop, "Stop your reminder"),
        "performance": (lambda page, env: page.goto("/performance"), "Performance data"),
    }
)

# 400 % zoom of a 1280 x 1024 screen leaves 320 x 256 CSS pixels (WCAG 1.4.10); and a phone.
NARROW = [{"width": 320, "height": 256}, {"width": 320, "height": 640}]

OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const problems = [];
    if (document.documentElement.scrollWidth > width) problems.push('the page scrolls sideways');
    for (const el of document.querySelectorAll('body *')) {
        if (el.closest('.govuk-visually-hidden, .govuk-skip-link, script, style, template')) continue;
        const style = getComputedStyle(el);
        if (style.display === 'none' || style.visibility === 'hidden') continue;
        const box = el.getBoundingClientRect();
        if (box.width && box.right > width + 1) problems.push('past the edge: ' + el.outerHTML.slice(0, 120));
        const clipped = ['hidden', 'clip'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
        if (clipped) problems.push('cut off: ' + el.outerHTML.slice(0, 120));
    }
    return problems.slice(0, 10);
}"""


def _basket(page, env):
    """Two penalties added, by the keeper's own buttons, and the list of them."""
    env.put_case(reference="71000002", vrm="CD34EFG")
    _found(page, env)
    with page.expect_navigation():
        page.get_by_role("button", name=t("Add another penalty")).click()
    find(page, "71000002", "CD34EFG")
    with page.expect_navigation():
        page.get_by_role("button", name=t("Add this penalty and continue")).click()


def _basket_changed(page, env):
    from dataclasses import replace

    _basket(page, env)
    env.ecs.put_case(replace(env.reduced_case, status=COURT))
    with page.expect_navigation():
        page.get_by_role("button", name=t("Continue to payment")).click()


def _basket_paid(page, env):
    _basket(page, env)
    page.get_by_role("button", name=t("Continue to payment")).click()
    page.wait_for_url(env.provider.base_url + "/**")
    payment = Payment.objects.get()
    env.provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    page.goto(f"/pay/return/{payment.id}")


PAGES.update(
    {
        "your-penalties": (_basket, "Your penalties"),
        "your-penalties-changed": (_basket_changed, "Your penalties"),
        "confirmation-several": (_basket_paid, "Payment complete"),
    }
)


@pytest.fixture(params=["en", "cy"])
def language(request):
    LANGUAGE["code"] = request.param
    yield request.param
    LANGUAGE["code"] = "en"


@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_accessible_in_each_language(
    name, language, new_context, live_server, reduced_case, put_case, provider, ecs, settings
):
    """axe-core finds nothing; one h1 and a GOV.UK title ("Error: " first when the page
    shows errors); at 320 CSS px wide and at 400 % zoom nothing scrolls sideways or is cut off."""
    # A Welsh keeper's browser asks for Welsh, and they chose it on the first page.
    page = new_context(bypass_csp=True, locale="cy-GB" if language == "cy" else "en-GB").new_page()
    page.goto(f"/?lang={language}")
    reach, heading = PAGES[name]
    reach(page, Env(reduced_case, put_case, provider, ecs, settings))
    page.wait_for_load_state()

    # Make sure the scan is of the page we meant, not of wherever a step went wrong.
    assert page.url.startswith(live_server.url), f"not one of our pages: {page.url}"
    assert page.locator("html").get_attribute("lang") == language
    msgid, values = heading if isinstance(heading, tuple) else (heading, {})
    expect(page.locator("h1")).to_have_count(1)
    expect(page.locator("h1")).to_have_text(t(msgid, **values))
    title = page.title().strip()
    assert title.endswith(f"– {t('Pay a vehicle penalty')} – GOV.UK"), title
    shows_errors = page.locator(".govuk-error-summary").count() > 0
    assert title.startswith(t("Error:")) == shows_errors, title
    assert page.locator("head > title").count() == 1

    violations = axe_violations(page)
    assert not violations, f"axe-core found {len(violations)} problem(s) on {page.url}:\n" + describe_violations(
        violations
    )
    for size in NARROW:
        page.set_viewport_size(size)
        assert page.evaluate(OVERFLOW) == [], f"{name} at {size['width']}x{size['height']}"
