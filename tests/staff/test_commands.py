"""`penaltypay staff ...` and `penaltypay outbox-exception --by`: run as an operator would,
as a separate process reading standard input."""

from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from penaltypay.audit.models import AuditEntry
from penaltypay.staff.roles import Role
from tests.staff_helpers import PASSWORD as PASSWORD_OF_MADE
from tests.staff_helpers import code_for, make_staff, penaltypay

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long enough passphrase here"


OTP_THROTTLE_SECONDS = 1.2  # OTP_TOTP_THROTTLE_FACTOR (1 s) after one failure, and a margin


def test_add_prints_a_secret_that_signs_in_at_once():
    done = penaltypay(
        "staff",
        "add",
        "first.supervisor",
        "--role",
        "supervisor",
        "--role",
        "finance",
        "--password-stdin",
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["username"] == "first.supervisor"
    assert out["roles"] == ["finance", "supervisor"]
    assert len(out["totp_secret"]) >= 32
    user = User.objects.get(username="first.supervisor")
    device = user.totpdevice_set.get()
    assert device.confirmed
    client = Client()
    client.post("/staff/sign-in", {"username": "first.supervisor", "password": PASSWORD})
    assert client.post("/staff/sign-in/code", {"code": code_for(device)})["Location"] == "/staff/"
    assert client.get("/staff/accounts").status_code == 200
    assert (
        AuditEntry.objects.filter(action="add-account", object_id="first.supervisor", actor_kind="command").count() == 1
    )


def test_the_command_lines_audit_entries_name_the_user_the_platform_gives_and_raise_an_alert(monkeypatch):
    """LOGNAME and USER are the caller's to set: the audit names the kernel's user id (and
    the machine), and each change to who someone is raises a `break_glass` security event."""
    import os
    import pwd
    import socket

    monkeypatch.setenv("LOGNAME", "someone.else")
    monkeypatch.setenv("USER", "someone.else")
    made = penaltypay("staff", "add", "break.glass", "--role", "supervisor", "--password-stdin", stdin=PASSWORD + "\n")
    reset = penaltypay("staff", "reset-2fa", "break.glass")
    actors = set(AuditEntry.objects.filter(actor_kind="command").values_list("actor", flat=True))
    me = f"command line (uid {os.getuid()} {pwd.getpwuid(os.getuid()).pw_name}, on {socket.gethostname()})"
    assert actors == {me}
    events = [
        line for line in (made.stderr + made.stdout + reset.stderr + reset.stdout).splitlines() if "break_glass" in line
    ]
    assert len(events) == 2 and all("someone.else" not in line for line in events)


def test_a_weak_password_is_refused_with_the_validators_messages_and_status_2():
    done = penaltypay("staff", "add", "weak.one", "--role", "agent", "--password-stdin", stdin="password\n")
    assert done.returncode == 2
    assert "This password is too short. It must contain at least 12 characters." in done.stderr
    assert "This password is too common." in done.stderr
    assert not User.objects.filter(username="weak.one").exists()


def test_an_unknown_role_is_refused():
    done = penaltypay("staff", "add", "x.y", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert done.returncode != 0 and "invalid choice" in done.stderr


def test_list_disable_and_reset():
    make_staff("listed.person", Role.AUDITOR)
    listing = json.loads(penaltypay("staff", "list", "--json").stdout)
    assert {"username": "listed.person", "roles": ["auditor"], "active": True, "last_login": None} in listing
    old_secret = User.objects.get(username="listed.person").totpdevice_set.get().key
    reset = penaltypay("staff", "reset-2fa", "listed.person", "--json")
    assert reset.returncode == 0
    device = User.objects.get(username="listed.person").totpdevice_set.get()
    assert device.key != old_secret and device.confirmed
    assert json.loads(reset.stdout)["totp_secret"]
    assert penaltypay("staff", "disable", "listed.person").returncode == 0
    assert not User.objects.get(username="listed.person").is_active
    assert penaltypay("staff", "disable", "nobody").returncode == 1
    actions = set(AuditEntry.objects.filter(object_id="listed.person").values_list("action", flat=True))
    assert actions == {"reset-second-factor", "disable-account"}


def test_outbox_exception_refuses_a_name_that_is_not_a_staff_account(ecs, put_case):
    from django.db import transaction
    from django.utils import timezone

    from penaltypay.ecs.models import OutboxEvent
    from penaltypay.ecs.outbox import enqueue_payment

    case = put_case(reference="70000123", vrm="EX12CPT")
    with transaction.atomic():
        event = enqueue_payment(
            case_reference=case.reference,
            payment_reference="PP-EXCP-0001",
            amount_pence=4000,
            paid_at=timezone.now(),
            channel="ONLINE",
            psp_reference="psp",
        )
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.EXCEPTION, exception_reason="closed")
    make_staff("agent.only", Role.AGENT)
    _, device = make_staff("support.person", Role.SUPPORT)
    for by in ("anyone at all", "agent.only"):
        done = penaltypay("outbox-exception", "resolve", str(event.pk), "--by", by, "--note", "refunded", "--code", "1")
        assert done.returncode == 1 and "not an active staff account" in done.stderr
    # Naming a support person is not enough: whoever runs it shows that person's code.
    args = ["outbox-exception", "resolve", str(event.pk), "--by", "support.person", "--note", "refunded r-1"]
    guessed = penaltypay(*args, "--code", "000000")
    assert guessed.returncode == 1 and "not the code" in guessed.stderr
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxEvent.EXCEPTION
    # django-otp refuses any code for a second after a wrong one (its throttle): a person
    # typing again takes longer than that; a fast machine's next command may not.
    time.sleep(OTP_THROTTLE_SECONDS)
    done = penaltypay(*args, "--code", code_for(device))
    assert done.returncode == 0, done.stderr
    assert OutboxEvent.objects.get(pk=event.pk).handled_by == "support.person"
    rows = list(AuditEntry.objects.filter(action="outbox-resolve").order_by("id").values_list("actor", "outcome"))
    assert rows == [
        ("anyone at all", "refused"),
        ("agent.only", "refused"),
        ("support.person", "refused"),
        ("support.person", "success"),
    ]


def test_unlock_ends_a_lock_out_and_is_audited():
    make_staff("locked.person", Role.AGENT)
    client = Client()
    for _ in range(5):
        client.post("/staff/sign-in", {"username": "locked.person", "password": "wrong wrong wrong"})
    assert client.post("/staff/sign-in", {"username": "locked.person", "password": PASSWORD_OF_MADE}).status_code == 429
    done = penaltypay("staff", "unlock", "locked.person")
    assert done.returncode == 0 and "may sign in again" in done.stdout
    assert client.post("/staff/sign-in", {"username": "locked.person", "password": PASSWORD_OF_MADE}).status_code == 302
    assert AuditEntry.objects.filter(action="unlock-account", object_id="locked.person").count() == 1
