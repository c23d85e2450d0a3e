"""The pages a public service must have, the maintenance switch, and what the keeper is
offered after paying."""

from __future__ import annotations

import re

import pytest
import requests

from penaltypay.payments.models import Payment
from tests.citizen.conftest import find

pytestmark = pytest.mark.django_db(transaction=True)

FOOTER = {
    "/help": "Help and contact",
    "/accessibility-statement": "Accessibility statement",
    "/privacy": "Privacy",
    "/cookies": "Cookies",
}


def test_every_page_links_to_the_pages_a_public_service_must_have(client):
    for path in ("/", "/find-your-penalty", "/feedback", "/no-such-page"):
        html = client.get(path).content.decode()
        footer = html[html.index("<footer") :]
        for link, text in FOOTER.items():
            assert f'href="{link}"' in footer and text in footer, (path, link)
    for link in FOOTER:
        assert client.get(link).status_code == 200


def test_the_privacy_notice_states_the_retention_the_service_applies(client, settings):
    settings.RETENTION_RECEIPT_EMAIL_DAYS = 45
    settings.RETENTION_WEBHOOK_DAYS = 12
    html = client.get("/privacy").content.decode()
    assert "your email address: 45 days after your payment" in html
    assert "about your payment: 12 days" in html
    assert "payment and refund records: 7 years" in html


def test_the_cookies_page_names_every_cookie_the_service_sets(client, reduced_case, provider):
    client.get("/?lang=cy")
    find(client, reduced_case.reference, reduced_case.vrm)
    set_cookies = set(client.cookies.keys())
    html = client.get("/cookies").content.decode()
    named = set(re.findall(r'<h3 class="govuk-heading-s app-cookie-name">(\w+)</h3>', html))
    assert set_cookies <= named and set_cookies  # nothing set that the page does not list
    assert all(not client.cookies[name]["max-age"] and not client.cookies[name]["expires"] for name in set_cookies)


def test_the_accessibility_statement_says_how_it_was_tested(client):
    html = client.get("/accessibility-statement").content.decode()
    for claim in ("axe-core", "keyboard alone", "320 pixels wide", "400% zoom", "JavaScript turned off"):
        assert claim in html


def test_maintenance_stops_new_payments_but_not_those_on_the_card_page(client, reduced_case, provider, settings):
    find(client, reduced_case.reference, reduced_case.vrm)
    client.post("/pay", {"email": ""})
    payment = Payment.objects.get()
    settings.MAINTENANCE_MODE = True
    settings.MAINTENANCE_UNTIL = "2026-11-29T06:00"
    for path in ("/", "/find-your-penalty", "/your-penalty", "/pay"):
        closed = client.get(path)
        assert closed.status_code == 503 and closed["Retry-After"] == "3600", path
        assert "Sorry, the service is unavailable" in closed.content.decode()
        assert "29 November 2026 06:00" in closed.content.decode()
    assert find(client, reduced_case.reference, reduced_case.vrm).status_code == 503
    # The keeper already on the card page finishes, and sees their confirmation.
    provider.complete(payment.provider_payment_id, "4444333322221111")
    back = client.get(f"/pay/return/{payment.id}")
    assert back.status_code == 302
    assert "Payment complete" in client.get(back["Location"]).content.decode()
    for still_open in ("/help", "/privacy", "/feedback", "/healthz"):
        assert client.get(still_open).status_code == 200, still_open


@pytest.mark.parametrize(
    "case_type, offered, not_offered",
    [
        ("7A", ["https://www.gov.uk/vehicle-tax", "https://www.gov.uk/make-a-sorn"], "vehicle-insurance"),
        ("29KK", ["https://www.gov.uk/vehicle-tax", "https://www.gov.uk/make-a-sorn"], "vehicle-insurance"),
        ("144A", ["https://www.gov.uk/vehicle-insurance"], "vehicle-tax"),
    ],
)
def test_after_paying_the_keeper_is_offered_the_next_thing_they_need(
    client, put_case, provider, case_type, offered, not_offered
):
    case = put_case(reference="70000031", case_type=case_type)
    find(client, case.reference, case.vrm)
    client.post("/pay", {"email": ""})
    payment = Payment.objects.get()
    provider.complete(payment.provider_payment_id, "4444333322221111")
    html = client.get(client.get(f"/pay/return/{payment.id}")["Location"]).content.decode()
    for link in offered:
        assert f'href="{link}"' in html
    assert not_offered not in html
    assert 'href="/feedback?from=confirmation"' in html


def test_a_wallet_payment_is_recorded_and_shown(client, reduced_case, provider, mailoutbox, staff_client):
    from penaltypay.staff.roles import Role

    find(client, reduced_case.reference, reduced_case.vrm)
    card_page = client.post("/pay", {"email": "keeper@example.com"})["Location"]
    page = requests.get(card_page, timeout=5).text
    assert "Pay with Apple Pay" in page and "Pay with Google Pay" in page
    action = re.search(r'<form method="post" action="([^"]+/wallet)"', page).group(1)
    paid = requests.post(
        requests.compat.urljoin(card_page, action), data={"wallet": "apple-pay"}, allow_redirects=False, timeout=5
    )
    assert paid.status_code == 303
    payment = Payment.objects.get()
    confirmation = client.get(client.get(f"/pay/return/{payment.id}")["Location"]).content.decode()
    payment.refresh_from_db()
    assert payment.wallet_type == "Apple Pay" and payment.status == "success"
    assert "Apple Pay (Visa ending 4242)" in confirmation
    assert "Paid with: Apple Pay" in mailoutbox[0].body
    staff = staff_client(Role.AGENT)
    assert "Apple Pay" in staff.get(f"/staff/payments/{payment.reference}").content.decode()
