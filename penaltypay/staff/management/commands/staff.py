"""`penaltypay staff add|list|disable|unlock|reset-2fa`: staff accounts from the command line, for
the first supervisor on a fresh install and for break-glass by an operator who already holds
the server (it prints the authenticator secret, for that operator). Every change is audited
as a command, naming the user id the kernel gives the process and the machine or pod (never
a name from the environment), and raises a `break_glass` security event, which alerts. Everyone else is added in the
back office, with a second supervisor's approval (ADR 0019)."""

from __future__ import annotations

import json
import os
import pwd
import socket
import sys

from axes.utils import reset as axes_reset
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from penaltypay.audit.log import record
from penaltypay.kernel.security_events import BREAK_GLASS, security_event
from penaltypay.staff.accounts import AccountError, add_staff, base32_secret, disable, reset_second_factor
from penaltypay.staff.roles import Role, held_roles

WEAK_PASSWORD = 2  # exit status for a refused account (e.g. a weak password)


def operator() -> str:
    """Who ran the command, as the platform says: the process's user id from the kernel (and
    its name in the password database) and the machine or pod it ran on. Never LOGNAME or
    USER, which the caller sets."""
    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "no name"
    return f"command line (uid {uid} {name}, on {socket.gethostname()})"


def break_glass(action: str, username: str) -> None:
    """Every change to who someone is made from the command line is loud: a security event
    (alerted on) beside the audit entry."""
    security_event(BREAK_GLASS, action=action, staff_username=username, operator=operator())


def _roles(user: User) -> list[str]:
    return sorted(role.value for role in held_roles(user))


class Command(BaseCommand):
    help = "Staff accounts: add (password from standard input), list, disable, unlock, reset-2fa."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="add an account whose authenticator app is usable at once")
        add.add_argument("username")
        add.add_argument("--role", action="append", required=True, choices=[role.value for role in Role])
        add.add_argument(
            "--password-stdin",
            action="store_true",
            required=True,
            help="read the password from standard input (one line)",
        )
        add.add_argument("--email", default="", help="their work address (for set-up and reset links later)")
        add.add_argument("--json", action="store_true")
        listing = actions.add_parser("list")
        listing.add_argument("--json", action="store_true")
        off = actions.add_parser("disable")
        off.add_argument("username")
        unlock = actions.add_parser("unlock", help="end a sign-in lock-out now (after checking with the person)")
        unlock.add_argument("username")
        reset = actions.add_parser("reset-2fa", help="a new authenticator secret, usable at once")
        reset.add_argument("username")
        reset.add_argument("--json", action="store_true")

    def handle(self, *args, action, **options):
        return getattr(self, "_" + action.replace("-", "_"))(**options)

    def _account(self, username: str) -> User:
        user = User.objects.filter(username=username, staff_profile__isnull=False).first()
        if user is None:
            raise CommandError(f"there is no staff account {username!r}")
        return user

    def _print(self, as_json: bool, value: dict | list, text: str) -> None:
        self.stdout.write(json.dumps(value) if as_json else text)

    def _add(self, username, role, json=False, email="", **options):
        password = sys.stdin.readline().rstrip("\r\n")
        roles = [Role(value) for value in dict.fromkeys(role)]
        try:
            account = add_staff(
                username, roles, password, created_by=operator(), confirm_second_factor=True, email=email
            )
        except AccountError as error:
            self.stderr.write("\n".join(error.messages))
            record(
                operator(),
                "add-account",
                actor_kind="command",
                object_type="staff",
                object_id=username,
                outcome="refused",
                detail="; ".join(error.messages)[:500],
            )
            sys.exit(WEAK_PASSWORD)
        record(
            operator(),
            "add-account",
            actor_kind="command",
            object_type="staff",
            object_id=account.user.username,
            detail="roles " + ",".join(r.value for r in roles),
        )
        break_glass("add-account", account.user.username)
        secret = base32_secret(account.device)
        self._print(
            json,
            {"username": account.user.username, "roles": _roles(account.user), "totp_secret": secret},
            f"added {account.user.username}; authenticator secret {secret}",
        )

    def _list(self, json=False, **options):
        people = [
            {
                "username": user.username,
                "roles": _roles(user),
                "active": user.is_active,
                "last_login": user.last_login.isoformat() if user.last_login else None,
            }
            for user in User.objects.filter(staff_profile__isnull=False).order_by("username")
        ]
        text = "\n".join(
            f"{user.username}\t{','.join(_roles(user))}\t{'active' if user.is_active else 'disabled'}"
            for user in User.objects.filter(staff_profile__isnull=False).order_by("username")
        )
        self._print(json, people, text or "no staff accounts")

    def _disable(self, username, **options):
        user = self._account(username)
        disable(user)
        record(operator(), "disable-account", actor_kind="command", object_type="staff", object_id=username)
        break_glass("disable-account", username)
        self.stdout.write(f"disabled {username}; their sessions end at their next request")

    def _unlock(self, username, **options):
        cleared = axes_reset(username=username)
        record(
            operator(),
            "unlock-account",
            actor_kind="command",
            object_type="staff",
            object_id=username,
            detail=f"{cleared} lock-out record(s) cleared",
        )
        break_glass("unlock-account", username)
        self.stdout.write(f"{username} may sign in again" if cleared else f"{username} was not locked out")

    def _reset_2fa(self, username, json=False, **options):
        user = self._account(username)
        device = reset_second_factor(user, confirm=True)
        record(operator(), "reset-second-factor", actor_kind="command", object_type="staff", object_id=username)
        break_glass("reset-second-factor", username)
        secret = base32_secret(device)
        self._print(json, {"username": username, "totp_secret": secret}, f"new authenticator secret {secret}")
