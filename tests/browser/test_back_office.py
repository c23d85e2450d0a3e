"""The back office in Chromium, scanned with axe-core on every page: an account added on
the command line signs in with its password and authenticator code, searches by
registration, opens a payment's timeline and signs out."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.utils import timezone
from django_otp.oath import hotp
from playwright.sync_api import Page, expect

from penaltypay.cases.models import CaseRecord
from penaltypay.payments.models import Payment, PaymentEvent
from tests.browser.journey import axe_violations, describe_violations
from tests.factories import late_licensing_case
from tests.staff_helpers import penaltypay

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long enough passphrase"


def authenticator_code(secret: str, steps_from_now: int = 0) -> str:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{hotp(key, int(time.time() // 30) + steps_from_now, digits=6):06d}"


def no_violations(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n" + describe_violations(violations)


@pytest.fixture
def held_payment():
    case = late_licensing_case(reference="72000001", vrm="BR12OWS")
    CaseRecord.objects.create(reference=case.reference, **CaseRecord.fields_from_case(case))
    payment = Payment.objects.create(
        reference="PP-BROW-SER1",
        first_case_reference=case.reference,
        case_type="7A",
        amount_pence=4000,
        description="x",
        status="success",
        provider_payment_id="prov-123",
        authorised_at=timezone.now(),
    )
    PaymentEvent.objects.create(payment=payment, from_status="new", to_status="in_progress", source="create")
    PaymentEvent.objects.create(payment=payment, from_status="in_progress", to_status="success", source="return")
    return payment


def test_an_agent_signs_in_searches_reads_a_timeline_and_signs_out(axe_page, live_server, held_payment):
    added = penaltypay(
        "staff", "add", "browser.agent", "--role", "agent", "--password-stdin", "--json", stdin=PASSWORD + "\n"
    )
    assert added.returncode == 0, added.stderr
    secret = json.loads(added.stdout)["totp_secret"]
    page = axe_page

    page.goto(f"{live_server.url}/staff/search")
    expect(page.locator("h1")).to_have_text("Sign in")
    no_violations(page)
    page.get_by_label("Username").fill("browser.agent")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    expect(page.locator("h1")).to_have_text("Enter your security code")
    page.get_by_label("Security code").fill("12")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("The security code must be 6 numbers")
    no_violations(page)
    page.get_by_label("Security code").fill(authenticator_code(secret))
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("h1")).to_have_text("Search")  # back where they were going
    no_violations(page)
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a penalty reference")
    no_violations(page)
    page.get_by_label("Penalty reference, registration").fill("br12 ows")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("main")).to_contain_text("Payments (1)")
    no_violations(page)

    page.get_by_role("link", name="PP-BROW-SER1").click()
    expect(page.locator("h1")).to_have_text("PP-BROW-SER1")
    timeline = page.locator("main table").inner_text()
    assert "Status in_progress → success" in timeline and "the keeper's browser coming back" in timeline
    no_violations(page)

    page.get_by_role("link", name="72000001").click()
    expect(page.locator("h1")).to_have_text("72000001")
    no_violations(page)

    page.get_by_role("button", name="Sign out browser.agent").click()
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(f"{live_server.url}/staff/payments/PP-BROW-SER1")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_first_sign_in_set_up_and_the_other_pages_pass_axe(axe_page, live_server, held_payment):
    added = penaltypay(
        "staff",
        "add",
        "browser.super",
        "--role",
        "supervisor",
        "--role",
        "auditor",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    secret = json.loads(added.stdout)["totp_secret"]
    page = axe_page
    page.goto(f"{live_server.url}/staff/sign-in")
    page.get_by_label("Username").fill("browser.super")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Security code").fill(authenticator_code(secret))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Penalty payments back office")
    no_violations(page)
    for path, heading in [
        ("/staff/outbox", "ECS outbox"),
        ("/staff/extract-imports", "Extract imports"),
        ("/staff/accounts", "Staff accounts"),
        ("/staff/accounts/new", "Add a staff account"),
        ("/staff/accounts/browser.super", "browser.super"),
        ("/staff/audit", "Audit log"),
        ("/staff/cases/99999999", "Not found"),
    ]:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1")).to_have_text(heading)
        no_violations(page)

    # A supervisor asks to add a colleague; a second supervisor approves; the colleague sets
    # up the account from the emailed link: their own password, their own app.
    page.goto(f"{live_server.url}/staff/accounts/new")
    page.get_by_role("button", name="Ask to add the account").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a username")
    no_violations(page)
    page.get_by_label("Username").fill("new.colleague")
    page.get_by_label("Work email address").fill("new.colleague@example.gov.uk")
    page.get_by_label("Contact centre agent").check()
    page.get_by_role("button", name="Ask to add the account").click()
    expect(page.locator("h1")).to_have_text("Staff accounts")
    expect(page.locator("main")).to_contain_text("Another supervisor decides this")
    no_violations(page)
    page.get_by_role("button", name="Sign out browser.super").click()

    second = penaltypay(
        "staff", "add", "second.super", "--role", "supervisor", "--password-stdin", "--json", stdin=PASSWORD + "\n"
    )
    second_secret = json.loads(second.stdout)["totp_secret"]
    sign_in_as(page, live_server, "second.super", second_secret)
    page.goto(f"{live_server.url}/staff/accounts")
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("main")).to_contain_text("new.colleague")
    page.get_by_role("button", name="Sign out second.super").click()

    link = link_in_mail("new.colleague@example.gov.uk")
    page.goto(f"{live_server.url}{link}")
    expect(page.locator("h1")).to_have_text("Choose your password")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a new password")
    no_violations(page)
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("Enter the new password again").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Set up your authenticator app")
    assert page.locator(".app-qr-code svg").count() == 1
    no_violations(page)
    page.get_by_text("I cannot scan the QR code").click()
    colleague_secret = page.locator("#secret").inner_text().strip()
    page.get_by_label("Security code").fill(authenticator_code(colleague_secret))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Penalty payments back office")

    # Their own account: sign-ins, and changing their password (with a code).
    page.get_by_role("link", name="Your account").click()
    expect(page.locator("h1")).to_have_text("Your account")
    no_violations(page)
    page.get_by_role("link", name="Change your password").click()
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter your current password")
    no_violations(page)

    # A used link says so, plainly.
    page.goto(f"{live_server.url}{link}")
    expect(page.locator("h1")).to_have_text("This link has expired or has been used")
    no_violations(page)


def sign_in_as(page: Page, live_server, username: str, secret: str) -> None:
    page.goto(f"{live_server.url}/staff/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Security code").fill(authenticator_code(secret))
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Penalty payments back office")


def link_in_mail(address: str) -> str:
    """The newest link emailed to `address` (the tests' email backend keeps messages in memory)."""
    from django.core import mail

    from tests.staff_helpers import link_sent_to

    return link_sent_to(mail.outbox, address)


def test_the_back_office_keeps_to_the_content_security_policy(page, live_server):
    """With the policy enforced (no bypass), nothing on the sign-in, link or set-up pages is blocked."""
    penaltypay(
        "staff",
        "add",
        "csp.checker",
        "--role",
        "agent",
        "--password-stdin",
        "--email",
        "csp.checker@example.gov.uk",
        stdin=PASSWORD + "\n",
    )
    from django.contrib.auth.models import User

    from penaltypay.staff.accounts import reset_authenticator

    reset_authenticator(User.objects.get(username="csp.checker"), by="test", base=live_server.url)
    page.goto(f"{live_server.url}{link_in_mail('csp.checker@example.gov.uk')}")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("h1")).to_have_text("Set up your authenticator app")
    assert page.locator(".app-qr-code svg").is_visible()
    assert page.console_errors == [] and page.failed_requests == []
