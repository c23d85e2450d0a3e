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
    account = add_staff(
        username,
        list(roles),
        PASSWORD,
        created_by="test",
        confirm_second_factor=confirmed,
        email=f"{username}@example.gov.uk",
    )
    return account.user, account.device


def code_from_secret(secret: str, steps_from_now: int = 0) -> str:
    """What an authenticator app shows for a secret typed in from the set-up page."""
    import base64

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int(time.time() // 30) + steps_from_now
    return f"{hotp(key, counter, digits=6):06d}"


def link_sent_to(mailoutbox, address: str) -> str:
    """The path of the newest one-time link emailed to `address`."""
    import re

    for message in reversed(mailoutbox):
        if address in message.to:
            found = re.search(r"https?://[^/\s]+(/staff/link/[A-Za-z0-9_-]+)", message.body)
            if found:
                return found.group(1)
    raise AssertionError(f"no link was emailed to {address}")


def secret_on(page: str) -> str:
    import re

    return re.search(r'id="secret">([A-Z2-7]+)<', page).group(1)


def set_up_from_link(client: Client, path: str, *, password: str = PASSWORD, choose: bool = True):
    """Open the link, choose (or give) the password, set up the app; returns the secret the
    person's app now holds and the final response."""
    form = {"password": password, "confirm": password} if choose else {"password": password}
    step = client.post(path, form)
    assert step.status_code == 302 and step["Location"] == "/staff/sign-in/set-up-authenticator", step.content[:800]
    secret = secret_on(client.get("/staff/sign-in/set-up-authenticator").content.decode())
    done = client.post("/staff/sign-in/set-up-authenticator", {"code": code_from_secret(secret)})
    return secret, done


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


def in_two_processes_at_once(code: str) -> list[subprocess.CompletedProcess]:
    """`penaltypay shell -c CODE` in two processes started together (as two gunicorn workers
    would run it), against the test database; both must succeed."""
    import threading

    results: list[subprocess.CompletedProcess] = []
    both = [threading.Thread(target=lambda: results.append(penaltypay("shell", "-c", code))) for _ in range(2)]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(120)
    assert len(results) == 2 and all(done.returncode == 0 for done in results), [
        done.stderr[-1500:] for done in results
    ]
    return results
