"""A Welsh-speaking keeper meets no English: every page of the journey, its errors, the
emails; the language is chosen in the header, kept for the session and passed on."""

from __future__ import annotations

import pytest
import requests
from django.test import Client

from penaltypay.payments.models import Payment
from tests.citizen.conftest import find
from tests.citizen.welsh import english_left

pytestmark = pytest.mark.django_db(transaction=True)

PAID = "4444333322221111"
DECLINED = "4000000000000002"


def in_language(language: str) -> Client:
    client = Client()
    if language == "cy":
        assert client.get("/?lang=cy").status_code == 302
    return client


def journey(language, reduced_case, other_case, provider, settings) -> dict[str, str]:
    """Every page a keeper can meet, errors included, in one language."""
    client = in_language(language)
    pages = {}

    def page(name, response):
        assert response.status_code in (200, 404, 429, 503), (name, response.status_code)
        pages[name] = response.content.decode()

    page("start", client.get("/"))
    page("find", client.get("/find-your-penalty"))
    page("find-empty", find(client, "", ""))
    page("find-bad", find(client, "12ab", "!!"))
    page("find-not-found", find(client, "99999999", "ZZ99ZZZ"))
    find(client, reduced_case.reference, reduced_case.vrm)
    page("penalty", client.get("/your-penalty"))
    page("pay", client.get("/pay"))
    page("pay-bad-email", client.post("/pay", {"email": "not an email"}))
    card_page = client.post("/pay", {"email": "keeper@example.com"})["Location"]
    payment = Payment.objects.filter(lines__case_reference=reduced_case.reference).latest("created_at")
    page("card-page", requests.get(card_page, timeout=5))
    provider.complete(payment.provider_payment_id, PAID)
    page("confirmation", client.get(client.get(f"/pay/return/{payment.id}")["Location"]))
    page("elsewhere", client.get(f"/pay/complete/{payment.id}"))
    find(client, reduced_case.reference, reduced_case.vrm)
    page("already-paid", client.get("/your-penalty"))
    find(client, other_case.reference, other_case.vrm)
    client.post("/pay", {"email": ""})
    declined = Payment.objects.filter(lines__case_reference=other_case.reference).latest("created_at")
    provider.complete(declined.provider_payment_id, DECLINED)
    page("declined", client.get(f"/pay/return/{declined.id}"))
    page("feedback", client.get("/feedback"))
    page("feedback-error", client.post("/feedback", {"comments": "1234 " * 260}))
    page("feedback-sent", client.post("/feedback", {"rating": "5"}))
    for path in ("help", "accessibility-statement", "privacy", "cookies"):
        page(path, client.get(f"/{path}"))
    page("not-found", client.get("/no-such-page"))
    settings.MAINTENANCE_MODE = True
    page("maintenance", client.get("/find-your-penalty"))
    settings.MAINTENANCE_MODE = False
    return pages


def test_every_page_in_welsh_has_no_english_on_it(put_case, provider, settings):
    english = journey(
        "en", put_case(reference="70000011"), put_case(reference="70000012", vrm="CD34EFG"), provider, settings
    )
    welsh = journey(
        "cy", put_case(reference="70000021"), put_case(reference="70000022", vrm="CD34EFG"), provider, settings
    )

    left = {name: english_left(welsh[name], english[name]) for name in welsh}
    assert {name: found for name, found in left.items() if found} == {}
    for name, html in welsh.items():
        assert '<html lang="cy"' in html, name
    welsh_months = ("Ionawr Chwefror Mawrth Ebrill Mai Mehefin Gorffennaf Awst Medi Hydref Tachwedd Rhagfyr").split()
    assert any(f" {month} " in welsh["penalty"] for month in welsh_months)  # the deadlines, dated in Welsh
    assert welsh["find-empty"].count("Gwall:") >= 1  # the page title says there is an error
    assert "<title>Gwall:" in welsh["find-empty"]


def test_the_switch_keeps_the_place_and_what_was_typed(client):
    response = client.get("/feedback?from=banner&lang=cy")
    assert response.status_code == 302 and response["Location"] == "/feedback?from=banner"
    html = client.get("/feedback?from=banner").content.decode()
    assert '<html lang="cy"' in html and "Rhoi adborth" in html
    assert 'value="banner"' in html

    # On a form, the switch sends what was typed and shows it again, unchecked.
    typed = client.post(
        "/find-your-penalty?lang=en", {"reference": "1234 56", "registration": "ab12", "switch_language": "en"}
    )
    page = typed.content.decode()
    assert typed.status_code == 200 and '<html lang="en"' in page
    assert 'value="1234 56"' in page and 'value="ab12"' in page
    assert "There is a problem" not in page  # nothing was looked up or checked
    assert client.get("/").content.decode().count('<html lang="en"') == 1  # and it is remembered


def test_without_javascript_the_switch_shows_again_what_was_last_sent(client):
    """A keeper reads an error, then switches: the link brings the form back as sent, in Welsh."""
    client.post("/find-your-penalty", {"reference": "12ab", "registration": "AB12CDE"})
    back = client.get("/find-your-penalty?lang=cy", follow=True).content.decode()
    assert '<html lang="cy"' in back and 'value="12ab"' in back and 'value="AB12CDE"' in back
    # Only straight after the switch: coming back later starts empty.
    assert 'value="12ab"' not in client.get("/find-your-penalty").content.decode()


def test_the_switch_is_in_the_header_in_each_language(client):
    english = client.get("/").content.decode()
    assert '<span aria-current="true">English</span>' in english
    assert 'href="/?lang=cy" hreflang="cy" lang="cy"' in english
    client.get("/?lang=cy")
    welsh = client.get("/find-your-penalty").content.decode()
    # A form page: the link names the form its script carries along.
    assert 'href="/find-your-penalty?lang=en" hreflang="en" lang="en" data-carry-form="find-form"' in welsh
    assert '<span aria-current="true">Cymraeg</span>' in welsh


def test_a_welsh_browser_gets_welsh_and_the_back_office_stays_english(client):
    assert '<html lang="cy"' in client.get("/", HTTP_ACCEPT_LANGUAGE="cy").content.decode()
    client.get("/?lang=cy")
    assert 'lang="en"' in client.get("/staff/sign-in").content.decode()[:200]
    assert client.get("/api/v1/openapi.json")["Content-Language"] == "en"


def test_welsh_goes_to_the_provider_the_card_page_and_the_receipt(reduced_case, provider, mailoutbox):
    client = in_language("cy")
    find(client, reduced_case.reference, reduced_case.vrm)
    card_page = client.post("/pay", {"email": "keeper@example.com"})["Location"]
    payment = Payment.objects.get()
    assert payment.language == "cy"
    html = requests.get(card_page, timeout=5).text
    assert '<html lang="cy">' in html and "Rhowch fanylion y cerdyn" in html
    provider.complete(payment.provider_payment_id, PAID)
    confirmation = client.get(client.get(f"/pay/return/{payment.id}")["Location"]).content.decode()
    assert "Taliad wedi’i gwblhau" in confirmation
    (mail,) = mailoutbox
    assert mail.subject.startswith("Taliad wedi dod i law")
    assert "Cyfeirnod y taliad" in mail.body and "Payment reference" not in mail.body
    # The session ended at the confirmation; the language did not.
    assert '<html lang="cy"' in client.get("/").content.decode()


def test_the_confirmation_can_be_read_in_the_other_language_once_shown(reduced_case, provider):
    client = in_language("cy")
    find(client, reduced_case.reference, reduced_case.vrm)
    client.post("/pay", {"email": ""})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, PAID)
    shown = client.get(client.get(f"/pay/return/{payment.id}")["Location"]).content.decode()
    proof = shown.split('name="receipt" value="')[1].split('"')[0]

    english = client.post(f"/pay/complete/{payment.id}?lang=en", {"receipt": proof, "switch_language": "en"})
    assert "Payment complete" in english.content.decode() and payment.reference in english.content.decode()
    # Without the proof (someone else, or a made-up one) nothing is shown.
    forged = client.post(f"/pay/complete/{payment.id}?lang=en", {"receipt": proof[:-2] + "xx", "switch_language": "en"})
    assert payment.reference not in forged.content.decode()
    stranger = Client().post(f"/pay/complete/{payment.id}", {"switch_language": "en"})
    assert payment.reference not in stranger.content.decode()
