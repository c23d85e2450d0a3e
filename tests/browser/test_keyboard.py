"""The whole journey by keyboard alone (Tab, Shift+Tab, Enter, Space), in English and in
Welsh: every control reached shows where the focus is; the error summary takes the focus
and its links move it to the field."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import Page, expect

from penaltypay.payments.models import Payment
from tests.browser.journey import LANGUAGE, SUCCESS_CARD, t

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Whether the focused element looks different from itself unfocused (GOV.UK's yellow focus
# state; the sandbox card page's outline).
FOCUS_SHOWS = """() => {
    const el = document.activeElement;
    const look = () => {
        const s = getComputedStyle(el);
        return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.backgroundColor, s.color].join('|');
    };
    const focused = look();
    el.blur();
    const plain = look();
    el.focus({focusVisible: true});
    return focused !== plain;
}"""


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until `selector` has the focus; it must show that it has."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            assert page.evaluate(FOCUS_SHOWS), f"no visible focus on {selector} at {page.url}"
            return
    raise AssertionError(f"Tab never reached {selector} on {page.url}")


@pytest.fixture(params=["en", "cy"])
def language(request):
    LANGUAGE["code"] = request.param
    yield request.param
    LANGUAGE["code"] = "en"


def test_the_journey_by_keyboard_alone(language, new_context, live_server, reduced_case, provider):
    page = new_context(locale="cy-GB" if language == "cy" else "en-GB").new_page()
    page.goto(f"/?lang={language}")

    tab_to(page, "a.govuk-button--start")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(t("Find your penalty"))

    # Sent empty: the error summary takes the focus; its first link moves it to the field.
    tab_to(page, "#find-form button.govuk-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    assert page.title().startswith(t("Error:"))
    page.keyboard.press("Tab")
    expect(page.locator(".govuk-error-summary a").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#reference")).to_be_focused()

    page.keyboard.type("7000 0001")
    tab_to(page, "#registration")
    page.keyboard.type("AB12 CDE")
    tab_to(page, "#find-form button.govuk-button")
    with page.expect_navigation():
        page.keyboard.press("Space")
    expect(page.locator("h1")).to_have_text(t("You need to pay %(amount)s", amount="£40"))

    tab_to(page, "a.govuk-button[href='/pay']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "#email")
    page.keyboard.type("keeper@example.com")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a field sends its form

    # The provider's card page, in the same language.
    page.wait_for_url(provider.base_url + "/**")
    assert page.locator("html").get_attribute("lang") == language
    for field, text in (
        ("#card-number", SUCCESS_CARD),
        ("#expiry-month", "12"),
        ("#expiry-year", str(date.today().year + 3)),
        ("#cardholder-name", "Alex Keeper"),
        ("#security-code", "123"),
    ):
        tab_to(page, field)
        page.keyboard.type(text)
    tab_to(page, "form:not(.wallet-form):not(.cancel-form) button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    page.wait_for_url(f"{live_server.url}/pay/complete/**")
    expect(page.locator("h1")).to_have_text(t("Payment complete"))
    assert Payment.objects.get().status == "success"
    # And on to the next thing: a link reached by keyboard.
    tab_to(page, "a[href='/feedback?from=confirmation']")


def test_switching_language_keeps_what_was_typed(page, live_server):
    page.goto("/find-your-penalty")
    page.get_by_label("Penalty reference").fill("7000 0001")
    page.get_by_label("Vehicle registration number").fill("AB12 CDE")
    with page.expect_navigation():
        page.get_by_role("link", name="Newid yr iaith i’r Gymraeg").click()
    assert page.locator("html").get_attribute("lang") == "cy"
    expect(page.get_by_label("Cyfeirnod y gosb")).to_have_value("7000 0001")
    expect(page.get_by_label("Rhif cofrestru’r cerbyd")).to_have_value("AB12 CDE")
    expect(page.locator(".govuk-error-summary")).to_have_count(0)
    assert page.url == f"{live_server.url}/find-your-penalty?lang=cy"
    assert not page.console_errors


def test_a_payment_link_by_keyboard_alone(language, new_context, live_server, reduced_case, provider):
    """The link an agent sent: confirm the registration (an error first), on to the penalty."""
    import re

    from django.core import mail

    from penaltypay.payments import links

    links.send(
        reduced_case.reference, by="an.agent", email="k@example.com", mobile="", language=language, base=live_server.url
    )
    path = re.search(r"(/pay-link/[A-Za-z0-9_-]+)", mail.outbox[-1].body).group(1)
    page = new_context(locale="cy-GB" if language == "cy" else "en-GB").new_page()
    page.goto(f"/find-your-penalty?lang={language}")
    page.goto(path)
    expect(page.locator("h1")).to_have_text(t("Confirm the vehicle registration number"))

    tab_to(page, "button.govuk-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    tab_to(page, ".govuk-error-summary a")
    page.keyboard.press("Enter")
    expect(page.locator("#registration")).to_be_focused()
    page.keyboard.type("AB12 CDE")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(t("You need to pay %(amount)s", amount="£40"))
