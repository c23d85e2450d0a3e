"""No one person moves money alone: nobody ever knows a colleague's password or second
factor, and nobody alone changes who someone is. Walked as an insider would: a supervisor
who also holds the finance role (and every other role) tries every action the back office
offers to end up approving her own refund — and cannot; her colleague, set up from his own
links, can."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from penaltypay.audit.models import AuditEntry
from penaltypay.payments.models import Refund
from penaltypay.staff.models import AccountRequest, StaffLink
from penaltypay.staff.roles import Role
from tests.staff_helpers import (
    PASSWORD,
    code_from_secret,
    link_sent_to,
    make_staff,
    secret_on,
    set_up_from_link,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

BOB = "bob@example.gov.uk"
BOBS_PASSWORD = "bob chooses his own words"


def signed_in(username: str, *roles: Role) -> Client:
    client = Client()
    user, device = make_staff(username, *roles)
    assert sign_in(client, username, device).status_code == 302
    client.user, client.device = user, device  # type: ignore[attr-defined]
    return client


def sign_in_with_secret(client: Client, username: str, password: str, secret: str, steps: int = 0):
    client.post("/staff/sign-in", {"username": username, "password": password})
    return client.post("/staff/sign-in/code", {"code": code_from_secret(secret, steps)})


@pytest.fixture
def alice():
    """A supervisor who is also finance (and everything else): the insider."""
    return signed_in("alice", *Role)


@pytest.fixture
def carol():
    return signed_in("carol", Role.SUPERVISOR)


def add_bob(alice, carol, mailoutbox) -> tuple[Client, str]:
    asked = alice.post("/staff/accounts/new", {"username": "bob", "email": BOB, "roles": ["finance"]})
    assert asked.status_code == 302
    assert not User.objects.filter(username="bob").exists()  # nothing until a second supervisor says so
    change = AccountRequest.objects.get(username="bob")
    assert carol.post(f"/staff/accounts/requests/{change.pk}", {"decision": "approve"}).status_code == 302
    bob = Client()
    secret, done = set_up_from_link(bob, link_sent_to(mailoutbox, BOB), password=BOBS_PASSWORD)
    assert done["Location"] == "/staff/"
    return bob, secret


def test_a_colleague_sets_himself_up_and_after_a_reset_nothing_she_knows_signs_her_in_as_him(
    alice, carol, mailoutbox, reduced_case, pay_online
):
    bob, bobs_secret = add_bob(alice, carol, mailoutbox)
    assert all(BOBS_PASSWORD not in m.body and bobs_secret not in m.body for m in mailoutbox)
    payment = pay_online(reduced_case)
    alice.post(f"/staff/payments/{payment.reference}/refund", {"amount": "£40.00", "reason": "overpaid", "detail": "x"})
    refund = Refund.objects.get()

    # She resets his authenticator app: the link goes to him; his sessions end.
    assert alice.post("/staff/accounts/bob", {"action": "reset-2fa"}).status_code == 302
    assert bob.get("/staff/")["Location"].startswith("/staff/sign-in")
    assert not [m for m in mailoutbox if "alice@example.gov.uk" in m.to and "/staff/link/" in m.body]
    # Nothing she knows signs her in as him: her password, his old app's code, the set-up page.
    for password in (PASSWORD, BOBS_PASSWORD):
        attempt = sign_in_with_secret(Client(), "bob", password, bobs_secret)
        assert attempt.status_code != 302 or not attempt["Location"] == "/staff/"
    intruder = Client()
    intruder.post("/staff/sign-in", {"username": "bob", "password": BOBS_PASSWORD})  # even knowing it
    assert intruder.get("/staff/sign-in/set-up-authenticator").status_code == 410
    # Nor can she point his links at herself: an address change waits for another supervisor.
    alice.post("/staff/accounts/bob", {"action": "email", "email": "alice.other@example.gov.uk"})
    change = AccountRequest.objects.get(username="bob", kind="email")
    own = alice.post(f"/staff/accounts/requests/{change.pk}", {"decision": "approve"})
    assert own.status_code == 400 and "another supervisor must approve" in own.content.decode()
    assert User.objects.get(username="bob").staff_profile.email == BOB
    # And she cannot approve her own refund.
    refused = alice.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "approve", "note": ""})
    assert refused.status_code == 400 and Refund.objects.get().status == "requested"

    # He sets up again from his own link (his password first), and approves her refund.
    bob = Client()
    new_secret, done = set_up_from_link(bob, link_sent_to(mailoutbox, BOB), password=BOBS_PASSWORD, choose=False)
    assert done["Location"] == "/staff/" and new_secret != bobs_secret
    approved = bob.post(f"/staff/refunds/{refund.reference}/decision", {"decision": "approve", "note": "ok"})
    assert approved.status_code == 302 and Refund.objects.get().status == "success"


def test_two_openings_of_a_set_up_link_are_never_shown_the_same_secret(alice, carol, mailoutbox):
    alice.post("/staff/accounts/new", {"username": "dan", "email": "dan@example.gov.uk", "roles": ["agent"]})
    carol.post(f"/staff/accounts/requests/{AccountRequest.objects.get().pk}", {"decision": "approve"})
    path = link_sent_to(mailoutbox, "dan@example.gov.uk")
    first = Client()
    first.post(path, {"password": BOBS_PASSWORD, "confirm": BOBS_PASSWORD})
    seen_first = secret_on(first.get("/staff/sign-in/set-up-authenticator").content.decode())
    again = secret_on(first.get("/staff/sign-in/set-up-authenticator").content.decode())
    second = Client()  # someone else who opened the same link: must know the password chosen
    assert second.post(path, {"password": "not the password one bit"}).status_code == 200
    second.post(path, {"password": BOBS_PASSWORD})
    seen_second = secret_on(second.get("/staff/sign-in/set-up-authenticator").content.decode())
    assert len({seen_first, again, seen_second}) == 3
    # Only the secret shown last to a session can be confirmed, and only by that session.
    stale = first.post("/staff/sign-in/set-up-authenticator", {"code": code_from_secret(seen_first)})
    assert stale.status_code == 200
    assert (
        second.post("/staff/sign-in/set-up-authenticator", {"code": code_from_secret(seen_second)}).status_code == 302
    )


def test_every_change_to_who_someone_is_waits_for_a_second_supervisor(alice, carol, mailoutbox):
    agent = make_staff("erin", Role.AGENT)[0]
    asks = [
        ("/staff/accounts/new", {"username": "frank", "email": "frank@example.gov.uk", "roles": ["finance"]}),
        ("/staff/accounts/erin", {"action": "roles", "roles": ["finance", "supervisor"]}),
        ("/staff/accounts/erin", {"action": "email", "email": "erin.new@example.gov.uk"}),
    ]
    for path, form in asks:
        assert alice.post(path, form).status_code == 302
    erin = User.objects.get(pk=agent.pk)
    assert not User.objects.filter(username="frank").exists()
    assert {g.name for g in erin.groups.all()} == {"agent"} and erin.staff_profile.email == "erin@example.gov.uk"
    for change in AccountRequest.objects.all():
        refused = alice.post(f"/staff/accounts/requests/{change.pk}", {"decision": "approve"})
        assert refused.status_code == 400
    # A supervisor never decides a change about herself either.
    about_carol = AccountRequest.objects.create(kind="roles", username="carol", roles=["finance"], requested_by="x")
    assert carol.post(f"/staff/accounts/requests/{about_carol.pk}", {"decision": "approve"}).status_code == 400
    for change in AccountRequest.objects.exclude(pk=about_carol.pk):
        assert carol.post(f"/staff/accounts/requests/{change.pk}", {"decision": "approve"}).status_code == 302
    erin.refresh_from_db()
    assert {g.name for g in erin.groups.all()} == {"finance", "supervisor"}
    assert erin.staff_profile.email == "erin.new@example.gov.uk"
    notice = [m for m in mailoutbox if "erin@example.gov.uk" in m.to]
    assert notice and "erin.new@example.gov.uk" in notice[-1].body  # the old address is told
    assert link_sent_to(mailoutbox, "frank@example.gov.uk")
    decided = list(AuditEntry.objects.filter(actor="carol", action__startswith="approve-").values_list("action"))
    assert len(decided) == 3


def test_the_insider_walk_no_action_of_hers_gives_her_anyone_elses_account(alice, carol, mailoutbox):
    """Every action the back office offers a supervisor, on a colleague; after each, nothing
    she holds (her password, her app, her inbox) signs her in as anyone but herself."""
    make_staff("gary", Role.FINANCE)
    actions = [
        {"action": "reset-password"},
        {"action": "reset-2fa"},
        {"action": "roles", "roles": ["finance", "agent"]},
        {"action": "email", "email": "gary.elsewhere@example.gov.uk"},
        {"action": "disable"},
        {"action": "enable"},
    ]
    mine = {"alice@example.gov.uk"}
    for form in actions:
        alice.post("/staff/accounts/gary", form)
        for message in mailoutbox:
            assert not (set(message.to) & mine and "/staff/link/" in message.body), form
        for password in (PASSWORD, "correct horse battery staple"):
            attempt = Client()
            step = attempt.post("/staff/sign-in", {"username": "gary", "password": password})
            if step.status_code == 302:  # her password is not his once he has chosen his own
                assert step["Location"] == "/staff/sign-in/code"
                secret_she_knows = alice.device.bin_key  # her own app cannot make his codes
                assert secret_she_knows != User.objects.get(username="gary").totpdevice_set.first().bin_key
    # Adding an account for herself under another name needs a second supervisor, and her own
    # address is refused outright.
    own_address = alice.post(
        "/staff/accounts/new", {"username": "alice2", "email": "alice@example.gov.uk", "roles": ["finance"]}
    )
    assert "belongs to another account" in own_address.content.decode()
    alice.post("/staff/accounts/new", {"username": "alice3", "email": "a3@example.gov.uk", "roles": ["finance"]})
    assert not User.objects.filter(username="alice3").exists()
    # The command line is for an operator who holds the server (audited with their own name).
    assert not StaffLink.objects.filter(user__username="gary", created_by="alice", used_at__isnull=False).exists()


@pytest.mark.parametrize("spelt", ["Alice@Example.gov.uk", "alice+new@example.gov.uk", "ALICE+x@EXAMPLE.GOV.UK"])
def test_one_mailbox_one_account_however_the_address_is_written(alice, spelt):
    asked = alice.post("/staff/accounts/new", {"username": "alice2", "email": spelt, "roles": ["finance"]})
    assert "belongs to another account" in asked.content.decode()
    assert not AccountRequest.objects.exists()


def test_two_requests_for_one_mailbox_cannot_both_be_approved(alice, carol, mailoutbox):
    """Asked at once by two supervisors, both waiting; the second is checked again when approved."""
    dave = signed_in("dave", Role.SUPERVISOR)
    assert (
        alice.post(
            "/staff/accounts/new", {"username": "hal", "email": "hal@example.gov.uk", "roles": ["finance"]}
        ).status_code
        == 302
    )
    refused = dave.post(
        "/staff/accounts/new", {"username": "hal2", "email": "Hal+2@example.gov.uk", "roles": ["finance"]}
    )
    assert "belongs to another account" in refused.content.decode()
    # Slipped in beside the first (as two requests at the same moment could be): approval checks again.
    second = AccountRequest.objects.create(
        kind=AccountRequest.ADD, username="hal2", email="hal+2@example.gov.uk", roles=["finance"], requested_by="dave"
    )
    first = AccountRequest.objects.get(username="hal")
    assert carol.post(f"/staff/accounts/requests/{first.pk}", {"decision": "approve"}).status_code == 302
    late = carol.post(f"/staff/accounts/requests/{second.pk}", {"decision": "approve"})
    assert late.status_code == 400 and "now belongs to another account" in late.content.decode()
    assert not User.objects.filter(username="hal2").exists()
    assert AccountRequest.objects.get(pk=second.pk).status == AccountRequest.PENDING  # to be rejected


def test_you_change_your_own_password_with_your_code_and_see_your_sign_ins(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_TOTP_TOLERANCE = 2  # three sign-ins with one app within a minute: each needs a fresh code
    me = signed_in("henry", Role.AGENT)
    other = Client()
    assert sign_in(other, "henry", me.device, steps_from_now=1).status_code == 302
    page = me.get("/staff/me").content.decode()
    assert "Your recent sign-ins" in page and page.count("success") >= 2
    wrong_code = me.post(
        "/staff/me/password", {"current": PASSWORD, "code": "000000", "password": "x" * 20, "confirm": "x" * 20}
    )
    assert wrong_code.status_code == 200 and "security code" in wrong_code.content.decode()
    from tests.staff_helpers import code_for

    changed = me.post(
        "/staff/me/password",
        {
            "current": PASSWORD,
            "code": code_for(me.device, 2),
            "password": "a brand new phrase",
            "confirm": "a brand new phrase",
        },
    )
    assert changed["Location"] == "/staff/me?changed=1"
    assert me.get("/staff/search").status_code == 200  # this session carries on
    assert other.get("/staff/")["Location"].startswith("/staff/sign-in")  # every other one ends
    assert User.objects.get(username="henry").check_password("a brand new phrase")


def test_wrong_current_passwords_lock_change_your_password_as_wrong_sign_ins_lock_sign_in(settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    me = signed_in("jill", Role.AGENT)
    guess = {"current": "a guess", "code": "000000", "password": "y" * 20, "confirm": "y" * 20}
    for n in range(settings.AXES_FAILURE_LIMIT):
        wrong = me.post("/staff/me/password", guess)
        if n < settings.AXES_FAILURE_LIMIT - 1:  # the last one reaches the limit, and is answered as locked
            assert wrong.status_code == 200 and "current password is not right" in wrong.content.decode()
    from tests.staff_helpers import code_for

    right = {"current": PASSWORD, "code": code_for(me.device), "password": "z" * 20, "confirm": "z" * 20}
    assert me.post("/staff/me/password", right).status_code == 429
    assert User.objects.get(username="jill").check_password(PASSWORD)  # unchanged
    # ... and the same account's sign-in is locked too: one count, wherever the password was typed.
    assert Client().post("/staff/sign-in", {"username": "jill", "password": PASSWORD}).status_code == 429


def test_wrong_passwords_at_a_links_password_step_count_towards_the_lock_outs(alice, carol, mailoutbox, settings):
    bob, _ = add_bob(alice, carol, mailoutbox)
    alice.post("/staff/accounts/bob", {"action": "reset-2fa"})
    change = AccountRequest.objects.filter(username="bob", status=AccountRequest.PENDING).first()
    if change is not None:
        carol.post(f"/staff/accounts/requests/{change.pk}", {"decision": "approve"})
    link = link_sent_to(mailoutbox, BOB)
    holder = Client(REMOTE_ADDR="203.0.113.77")
    for n in range(settings.AXES_FAILURE_LIMIT):
        wrong = holder.post(link, {"password": "a guess"})
        if n < settings.AXES_FAILURE_LIMIT - 1:
            assert "password is not right" in wrong.content.decode()
    assert holder.post(link, {"password": BOBS_PASSWORD}).status_code == 429


def test_password_spraying_from_one_address_is_stopped_across_usernames(settings):
    settings.STAFF_SIGN_IN_FAILURES_PER_ADDRESS = 5
    make_staff("ivy", Role.AGENT)
    sprayer = Client(REMOTE_ADDR="203.0.113.50")
    for n in range(5):
        sprayer.post("/staff/sign-in", {"username": f"user{n}", "password": "Summer2026!"})
    blocked = sprayer.post("/staff/sign-in", {"username": "ivy", "password": PASSWORD})
    assert blocked.status_code == 429
    fine = Client(REMOTE_ADDR="198.51.100.7").post("/staff/sign-in", {"username": "ivy", "password": PASSWORD})
    assert fine.status_code == 302
    refused = AuditEntry.objects.filter(detail="too many failed sign-ins from this address")
    assert refused.count() == 1


def test_the_back_office_has_its_own_session_expired_page():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/staff/sign-in", {"username": "x", "password": "y"})
    page = response.content.decode()
    assert response.status_code == 403
    assert (
        "Your session has expired" in page and 'href="/staff/"' in page and "Go to the start of the service" not in page
    )
