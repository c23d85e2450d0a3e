"""Every staff URL × every role (and signed out): allowed, 403 or a redirect to sign in.
The list of URLs is read from the URL configuration, so a new staff view without a rule,
or with one this table does not expect, fails here."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern

from penaltypay.ecs.outbox import enqueue_payment
from penaltypay.extract.models import ExtractImport
from penaltypay.staff import urls as staff_urls
from penaltypay.staff.roles import ACCOUNTS, AUDIT, CASEWORK, OPERATIONS, REFUNDS, Role
from tests.staff_helpers import make_staff, sign_in

pytestmark = pytest.mark.django_db

ANYONE = set(Role)
# What the issue asks, written out again here rather than read from the code under test.
EXPECTED_READERS = {
    "home": ANYONE,
    "sign-out": ANYONE,
    "sign-out-everywhere": ANYONE,
    "my-account": ANYONE,
    "change-password": ANYONE,
    "search": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "case": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "lift-pause": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "stop-reminder": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "payment": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "refund-new": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "dispute-evidence": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "phone-payment": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "phone-payment-take": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "phone-payment-link": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "refund-decision": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "exceptions": {Role.FINANCE, Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "exceptions-act": {Role.FINANCE, Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "reconciliation": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "reconciliation-run": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "reconciliation-csv": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "reports": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "reports-csv": {Role.FINANCE, Role.SUPERVISOR, Role.AUDITOR},
    "feedback": {Role.SUPERVISOR, Role.AUDITOR},
    "outbox": {Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "outbox-exception": {Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "extract-imports": {Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "extract-import": {Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "extract-import-records": {Role.SUPPORT, Role.SUPERVISOR, Role.AUDITOR},
    "accounts": {Role.SUPERVISOR, Role.AUDITOR},
    "account-new": {Role.SUPERVISOR, Role.AUDITOR},
    "account-request": {Role.SUPERVISOR, Role.AUDITOR},
    "account": {Role.SUPERVISOR, Role.AUDITOR},
    "audit": {Role.AUDITOR},
    "audit-csv": {Role.AUDITOR},
}
EXPECTED_ACTORS = {
    "phone-payment": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR},
    "phone-payment-take": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR},
    "phone-payment-link": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR},
    "lift-pause": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR},
    "stop-reminder": {Role.AGENT, Role.FINANCE, Role.SUPERVISOR},
    "exceptions-act": {Role.FINANCE, Role.SUPPORT, Role.SUPERVISOR},
    "refund-new": {Role.FINANCE, Role.SUPERVISOR},
    "refund-decision": {Role.FINANCE, Role.SUPERVISOR},
    "reconciliation": {Role.FINANCE, Role.SUPERVISOR},
    "outbox-exception": {Role.SUPPORT, Role.SUPERVISOR},
    "account-new": {Role.SUPERVISOR},
    "account-request": {Role.SUPERVISOR},
    "account": {Role.SUPERVISOR},
    "change-password": ANYONE,
}
PUBLIC = {"sign-in", "sign-in-code", "set-up-authenticator", "link", "phone-payment-return"}
SIGNING_OUT = {"sign-out", "sign-out-everywhere"}  # their POST is tested in test_sign_in.py


def staff_patterns() -> list[URLPattern]:
    return [p for p in staff_urls.urlpatterns if isinstance(p, URLPattern)]


def test_every_staff_url_has_a_rule_and_the_table_knows_it():
    for pattern in staff_patterns():
        rule = getattr(pattern.callback, "staff_rule", None)
        assert rule is not None, f"/staff/{pattern.pattern} has no rule (penaltypay.staff.roles.requires)"
        if rule == "public":
            assert pattern.name in PUBLIC, f"/staff/{pattern.pattern} is public"
        else:
            assert pattern.name in EXPECTED_READERS, f"/staff/{pattern.pattern} is not in the permission table"


def test_the_rule_constants_are_what_the_issue_says():
    assert CASEWORK | {Role.AUDITOR} == EXPECTED_READERS["search"]
    assert OPERATIONS | {Role.AUDITOR} == EXPECTED_READERS["outbox"]
    assert REFUNDS | {Role.AUDITOR} == EXPECTED_READERS["refund-new"]
    assert ACCOUNTS | {Role.AUDITOR} == EXPECTED_READERS["accounts"]
    assert AUDIT == EXPECTED_READERS["audit"]


@pytest.fixture
def objects():
    """One of everything a staff URL can name."""
    from penaltypay.cases.models import CaseRecord
    from penaltypay.payments.models import Payment
    from tests.factories import late_licensing_case

    case = late_licensing_case(reference="71000001", vrm="PM12ATX")
    CaseRecord.objects.create(reference=case.reference, **CaseRecord.fields_from_case(case))
    Payment.objects.create(
        reference="PP-MATR-IX01",
        first_case_reference=case.reference,
        case_type="7A",
        amount_pence=4000,
        description="x",
        status="success",
    )
    from django.utils import timezone

    with transaction.atomic():
        event = enqueue_payment(
            case_reference=case.reference,
            payment_reference="PP-MATR-IX01",
            amount_pence=4000,
            paid_at=timezone.now(),
            channel="ONLINE",
            psp_reference="psp",
        )
    from penaltypay.payments.models import Refund

    Refund.objects.create(
        reference="RF-MATR-IX01",
        payment=Payment.objects.get(reference="PP-MATR-IX01"),
        amount_pence=100,
        reason="other",
        requested_by="someone",
    )
    from penaltypay.reconciliation.models import ReconciliationRun

    ReconciliationRun.objects.create(day=timezone.localdate(), started_at=timezone.now(), trigger="command")
    run = ExtractImport.objects.create(file_name="ECSX_20261128_000001.dat", started_at=timezone.now())
    make_staff("someone-else", Role.AGENT)
    return {
        "reference": "PP-MATR-IX01",
        "event_id": event.pk,
        "pk": run.pk,
        "kind": "rejected",
        "username": "someone-else",
        "dispute_id": "NOSUCHDISPUTE",
    }


def _url(pattern: URLPattern, objects: dict) -> str:
    kwargs = {name: objects[name] for name in pattern.pattern.converters}
    if pattern.name in ("case", "lift-pause", "stop-reminder"):
        kwargs["reference"] = "71000001"
    if pattern.name == "refund-decision":
        kwargs["reference"] = "RF-MATR-IX01"
    from django.urls import reverse

    return reverse(f"staff:{pattern.name}", kwargs=kwargs)


def _outcome(response) -> str:
    assert response.status_code < 500, response
    if response.status_code == 302 and response["Location"].startswith("/staff/sign-in"):
        return "sign-in"
    if response.status_code == 403:
        assert b"You do not have access" in response.content
        return "403"
    return "allowed"


def _signed_in(role: Role | None) -> Client:
    client = Client()
    if role is not None:
        user, device = make_staff(f"matrix-{role.value}", role)
        assert sign_in(client, user.username, device).status_code == 302
    return client


@pytest.mark.parametrize("role", [None, *Role], ids=lambda r: r.value if r else "signed-out")
def test_each_role_reaches_exactly_its_pages(role, objects):
    client = _signed_in(role)
    for pattern in staff_patterns():
        if pattern.name in PUBLIC:
            continue
        url = _url(pattern, objects)
        readers = EXPECTED_READERS[pattern.name]
        expected = "sign-in" if role is None else ("allowed" if role in readers else "403")
        assert _outcome(client.get(url)) == expected, (url, role, "GET")
        if pattern.name in SIGNING_OUT:
            continue
        actors = EXPECTED_ACTORS.get(pattern.name, set())
        expected = "sign-in" if role is None else ("allowed" if role in actors else "403")
        assert _outcome(client.post(url, {})) == expected, (url, role, "POST")


def test_a_person_with_two_roles_has_both():
    client = Client()
    user, device = make_staff("two-hats", Role.AGENT, Role.SUPPORT)
    sign_in(client, user.username, device)
    assert client.get("/staff/search").status_code == 200
    assert client.get("/staff/outbox").status_code == 200
    assert client.get("/staff/accounts").status_code == 403


def test_a_password_alone_reaches_no_staff_page(objects):
    client = Client()
    make_staff("half-way", Role.SUPERVISOR)
    client.post("/staff/sign-in", {"username": "half-way", "password": "correct horse battery staple"})
    for pattern in staff_patterns():
        if pattern.name not in PUBLIC:
            assert _outcome(client.get(_url(pattern, objects))) == "sign-in", pattern.name
