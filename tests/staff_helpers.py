"""Staff accounts and signing in as a person would: the password page, then a TOTP code
computed from the account's secret as an authenticator app would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from django.test import Client
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.staff.accounts import add_staff
from penaltypay.staff.roles import Role

PASSWORD = "correct horse battery staple"
# Staff tests sign in a lot; the production hasher's cost is not what they test (hashes made
# by a `penaltypay` subprocess with the production hasher still verify).
QUICK_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def code_for(device: TOTPDevice, steps_from_now: int = 0) -> str:
    """The code an authenticator app shows now (or that many 30-second steps away)."""
    device.refresh_from_db()
    counter = int((time.time() - device.t0) // device.step) + steps_from_now
    return f"{hotp(device.bin_key, counter, digits=device.digits):0{device.digits}d}"


def staff_session(client: Client):
    """The back office's session of this client (its own cookie, not the test client's)."""
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore
    return store(session_key=client.cookies[settings.STAFF_SESSION_COOKIE_NAME].value)


def make_staff(username: str, *roles: Role, confirmed: bool = True):
    account = add_staff(username, list(roles), PASSWORD, created_by="test", confirm_second_factor=confirmed)
    return account.user, account.device


def sign_in(client: Client, username: str, device: TOTPDevice, *, password: str = PASSWORD, steps_from_now: int = 0):
    """Password, then code. Returns the final response."""
    first = client.post("/staff/sign-in", {"username": username, "password": password})
    assert first.status_code == 302, first.content.decode()[:500]
    return client.post("/staff/sign-in/code", {"code": code_for(device, steps_from_now)})


def signed_in_client(*roles: Role, username: str) -> Client:
    user, device = make_staff(username, *roles)
    client = Client()
    response = sign_in(client, username, device)
    assert response.status_code == 302, response.content.decode()[:500]
    client.user, client.device = user, device  # type: ignore[attr-defined]
    return client


def penaltypay(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    """`penaltypay ARGS` as an operator runs it, against the test database."""
    from django.conf import settings

    env = dict(os.environ, DJANGO_SETTINGS_MODULE="penaltypay.settings")
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{database['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return subprocess.run(
        [str(Path(sys.executable).parent / "penaltypay"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
