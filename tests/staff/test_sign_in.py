"""Signing in: password then a TOTP code (django-otp), lock-out (django-axes), session
limits, signing out, and the cookie that carries it all."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from penaltypay.audit.models import AuditEntry
from penaltypay.staff.accounts import disable, end_sessions
from penaltypay.staff.middleware import LAST_SEEN, SIGNED_IN_AT
from penaltypay.staff.roles import Role
from tests.staff_helpers import PASSWORD, code_for, make_staff, sign_in, staff_session

pytestmark = pytest.mark.django_db

WRONG = "Your username, password or security code is not right"


def password_step(client, username="agent.smith", password=PASSWORD):
    return client.post("/staff/sign-in", {"username": username, "password": password})


@pytest.fixture
def agent():
    return make_staff("agent.smith", Role.AGENT)


def test_password_and_code_sign_in_and_the_session_key_changes(client, agent):
    user, device = agent
    client.get("/staff/sign-in")
    before = client.cookies["staff_session"].value if "staff_session" in client.cookies else None
    assert password_step(client)["Location"] == "/staff/sign-in/code"
    pending = client.cookies["staff_session"].value
    page = client.get("/staff/sign-in/code").content.decode()
    assert "Security code" in page
    response = client.post("/staff/sign-in/code", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/staff/"
    signed_in = client.cookies["staff_session"].value
    assert len({before, pending, signed_in}) == 3  # cycled at the password and again at the code
    assert "agent.smith" in client.get("/staff/").content.decode()
    user.refresh_from_db()
    assert user.last_login is not None


def test_labels_are_the_ones_staff_are_told_about(client):
    page = client.get("/staff/sign-in").content.decode()
    assert ">\n    Username\n  </label>" in page or "Username" in page
    assert "Password" in page


def test_a_wrong_password_and_an_unknown_username_read_the_same(client, agent):
    wrong = password_step(client, password="not the password at all").content.decode()
    unknown = password_step(Client(), username="nobody.here").content.decode()
    assert WRONG in wrong and WRONG in unknown
    assert "There is a problem" in wrong


def test_a_wrong_code_is_refused(client, agent):
    user, device = agent
    password_step(client)
    good = code_for(device)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    page = client.post("/staff/sign-in/code", {"code": wrong}).content.decode()
    assert WRONG in page
    assert client.get("/staff/search")["Location"].startswith("/staff/sign-in")


def test_an_expired_code_is_refused(client, agent):
    user, device = agent
    password_step(client)
    old = code_for(device, steps_from_now=-3)  # 90 seconds old: beyond the one-step tolerance
    assert WRONG in client.post("/staff/sign-in/code", {"code": old}).content.decode()


def test_a_code_is_used_once(agent):
    user, device = agent
    code = code_for(device)
    first, second = Client(), Client()
    password_step(first)
    password_step(second)
    assert first.post("/staff/sign-in/code", {"code": code}).status_code == 302
    assert WRONG in second.post("/staff/sign-in/code", {"code": code}).content.decode()


def test_a_malformed_code_gets_a_specific_message(client, agent):
    password_step(client)
    assert (
        "The security code must be 6 numbers" in client.post("/staff/sign-in/code", {"code": "12ab"}).content.decode()
    )
    assert "Enter the 6-digit security code" in client.post("/staff/sign-in/code", {"code": " "}).content.decode()


def test_empty_sign_in_form_says_what_to_enter(client):
    page = client.post("/staff/sign-in", {}).content.decode()
    assert "Enter your username and password" in page


def test_the_code_page_without_a_password_goes_back_to_sign_in(client, agent):
    assert client.get("/staff/sign-in/code")["Location"] == "/staff/sign-in"
    assert client.post("/staff/sign-in/code", {"code": "123456"})["Location"] == "/staff/sign-in"


def test_five_failures_lock_the_account_for_15_minutes_whether_or_not_it_exists(client, agent):
    user, device = agent
    for _ in range(5):
        password_step(client, password="wrong wrong wrong")
    locked = password_step(Client())  # the right password, from anywhere
    assert locked.status_code == 429
    assert "You cannot sign in for 15 minutes" in locked.content.decode()
    for _ in range(6):
        ghost = password_step(Client(), username="no.such.person", password="whatever it is")
    assert ghost.status_code == 429 and ghost.content.decode() == locked.content.decode().replace(
        *_csrf_difference(ghost, locked)
    )
    # 15 minutes later the account opens again.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    fresh = Client()
    assert sign_in(fresh, user.username, device).status_code == 302


def _csrf_difference(one, other):
    """Two renderings of one page differ only in their CSP nonce."""
    import re

    nonce = re.compile(r'nonce="[^"]+"')
    first, second = nonce.search(one.content.decode()), nonce.search(other.content.decode())
    return (second.group(0), first.group(0)) if first and second else ("", "")


def test_wrong_codes_count_towards_the_lock_out(client, agent):
    user, device = agent
    password_step(client)
    for _ in range(5):
        client.post("/staff/sign-in/code", {"code": "000000" if code_for(device) != "000000" else "111111"})
    assert password_step(Client()).status_code == 429


def test_every_attempt_is_audited_once_and_the_lock_out_says_so(client, agent):
    for _ in range(5):
        password_step(client, password="wrong wrong wrong")
    password_step(client)
    rows = list(AuditEntry.objects.filter(action="sign-in").order_by("id").values_list("outcome", "actor"))
    # The fifth failure locks the account; the sixth attempt (right password) is refused too.
    assert rows == [(AuditEntry.FAILURE, "agent.smith")] * 4 + [(AuditEntry.REFUSED, "agent.smith")] * 2


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(agent):
    user, device = agent
    open_session = Client()
    sign_in(open_session, user.username, device)
    disable(user)
    assert open_session.get("/staff/")["Location"].startswith("/staff/sign-in")
    assert WRONG in password_step(Client()).content.decode()


def test_idle_for_15_minutes_signs_out(client, agent):
    user, device = agent
    sign_in(client, user.username, device)
    session = staff_session(client)
    session[LAST_SEEN] = time.time() - 16 * 60
    session.save()
    response = client.get("/staff/")
    assert response["Location"] == "/staff/sign-in?ended=idle"
    assert "had not done anything for 15 minutes" in client.get(response["Location"]).content.decode()
    assert client.get("/staff/")["Location"].startswith("/staff/sign-in")


def test_activity_keeps_the_session_but_8_hours_end_it(client, agent):
    user, device = agent
    sign_in(client, user.username, device)
    session = staff_session(client)
    session[LAST_SEEN] = time.time() - 14 * 60
    session.save()
    assert client.get("/staff/").status_code == 200
    session = staff_session(client)
    session[SIGNED_IN_AT] = time.time() - 8 * 3600 - 1
    session.save()
    assert client.get("/staff/")["Location"] == "/staff/sign-in?ended=expired"


def test_sign_out_ends_this_session_only(agent):
    user, device = agent
    here, there = Client(), Client()
    assert sign_in(here, user.username, device).status_code == 302
    assert sign_in(there, user.username, device, steps_from_now=1).status_code == 302
    assert here.post("/staff/sign-out")["Location"] == "/staff/sign-in"
    assert here.get("/staff/")["Location"].startswith("/staff/sign-in")
    assert there.get("/staff/").status_code == 200


def test_sign_out_everywhere_ends_every_session(agent):
    user, device = agent
    here, there = Client(), Client()
    assert sign_in(here, user.username, device).status_code == 302
    assert sign_in(there, user.username, device, steps_from_now=1).status_code == 302
    assert here.post("/staff/sign-out-everywhere")["Location"] == "/staff/sign-in"
    assert there.get("/staff/")["Location"] == "/staff/sign-in?ended=signed-out-elsewhere"
    assert here.get("/staff/")["Location"].startswith("/staff/sign-in")


def test_end_sessions_is_what_a_supervisor_uses_too(agent):
    user, device = agent
    client = Client()
    sign_in(client, user.username, device)
    end_sessions(user)
    assert client.get("/staff/")["Location"].startswith("/staff/sign-in")


def test_staff_cookie_is_strict_http_only_and_only_for_staff_pages(client, agent, settings):
    user, device = agent
    settings.SESSION_COOKIE_SECURE = True
    response = sign_in(client, user.username, device)
    cookie = response.cookies["staff_session"]
    assert (cookie["samesite"], cookie["httponly"], cookie["path"], cookie["secure"]) == (
        "Strict",
        True,
        "/staff/",
        True,
    )
    assert "sessionid" not in response.cookies


def test_a_keepers_session_never_opens_a_staff_page(client, agent):
    user, device = agent
    sign_in(client, user.username, device)
    stolen = client.cookies["staff_session"].value
    other = Client()
    other.cookies["sessionid"] = stolen  # a staff session presented as a keeper's cookie
    assert other.get("/staff/")["Location"].startswith("/staff/sign-in")


def test_next_page_after_sign_in_stays_in_the_back_office(client, agent):
    user, device = agent
    assert client.get("/staff/search")["Location"] == "/staff/sign-in?next=/staff/search"
    client.get("/staff/sign-in?next=/staff/search")
    assert sign_in(client, user.username, device)["Location"] == "/staff/search"
    other = Client()
    other.get("/staff/sign-in?next=https://evil.example/")
    assert sign_in(other, user.username, device, steps_from_now=1)["Location"] == "/staff/"


def test_staff_pages_only_from_allowed_networks(client, agent, settings):
    user, device = agent
    settings.STAFF_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get("/staff/sign-in").status_code == 403
    assert client.get("/staff/sign-in", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/", REMOTE_ADDR="192.0.2.1").status_code == 200  # keepers' pages are not affected


def test_an_account_not_set_up_cannot_sign_in_and_set_up_is_never_reached_by_password(client, settings):
    """Setting up the app happens only from the person's own emailed link: a password
    (whoever knows it) never leads to a set-up page."""
    user, device = make_staff("new.starter", Role.AGENT, confirmed=False)
    refused = password_step(client, username="new.starter")
    assert refused.status_code == 200 and "This account is not set up" in refused.content.decode()
    assert client.get("/staff/sign-in/set-up-authenticator").status_code == 410
    assert client.get("/staff/")["Location"].startswith("/staff/sign-in")
