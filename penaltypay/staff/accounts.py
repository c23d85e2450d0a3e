"""Staff accounts: adding one, changing its roles, disabling it, resetting its second
factor. The `penaltypay staff` command and the supervisor's pages both use these."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.db.models import F
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.staff.models import StaffProfile
from penaltypay.staff.roles import Role

DEVICE_NAME = "authenticator app"
USERNAME = re.compile(r"[A-Za-z0-9._-]{1,150}")


class AccountError(Exception):
    """Refused, with the reasons to show (e.g. Django's password validators' messages)."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True)
class NewAccount:
    user: User
    device: TOTPDevice


def _groups(roles: list[Role]) -> list[Group]:
    return [Group.objects.get_or_create(name=role.value)[0] for role in roles]


def add_staff(
    username: str, roles: list[Role], password: str, *, created_by: str, confirm_second_factor: bool
) -> NewAccount:
    """A new account with its TOTP device. `confirm_second_factor`: usable at once (the
    command line, for the first supervisor and for scripts); otherwise the person sets up
    their authenticator app at their first sign-in."""
    username = username.strip()
    problems = []
    if not USERNAME.fullmatch(username):
        problems.append("Enter a username of letters, numbers, full stops, hyphens and underscores")
    elif User.objects.filter(username__iexact=username).exists():
        problems.append("There is already an account with that username")
    if not roles:
        problems.append("Choose at least one role")
    user = User(username=username)
    try:
        validate_password(password, user)
    except Exception as error:  # ValidationError: its messages are the validators'
        problems.extend(getattr(error, "messages", [str(error)]))
    if problems:
        raise AccountError(problems)
    with transaction.atomic():
        user.set_password(password)
        user.save()
        user.groups.set(_groups(roles))
        StaffProfile.objects.create(user=user, created_by=created_by)
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=confirm_second_factor)
    return NewAccount(user, device)


def set_roles(user: User, roles: list[Role]) -> None:
    if not roles:
        raise AccountError(["Choose at least one role"])
    user.groups.set(_groups(roles))


def end_sessions(user: User) -> None:
    """Every session of this person ends at its next request."""
    StaffProfile.objects.filter(user=user).update(session_epoch=F("session_epoch") + 1)


def disable(user: User) -> None:
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        end_sessions(user)


def reset_second_factor(user: User, *, confirm: bool) -> TOTPDevice:
    """A new secret (the old app stops working); unless `confirm`, set up at next sign-in."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=confirm)
        end_sessions(user)
    return device


def base32_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
