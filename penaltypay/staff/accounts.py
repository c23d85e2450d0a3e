"""Staff accounts: who someone is, and who may change it (docs/adr/0019).

No one person may move money alone, so nobody ever knows a colleague's password or
second factor, and nobody alone changes who someone is:

- a new account, a change of roles, of email address, and re-enabling an account are asked
  for by one supervisor and applied only when another approves (`request_*`, `decide`);
- the person sets their own password and authenticator app from a one-time link sent to
  their own work address (penaltypay.staff.links);
- resets send a fresh link to the person and end their sessions; until they use it they
  cannot sign in;
- disabling needs one supervisor (it takes power away).

The command line (`penaltypay staff add`, `reset-2fa`) remains for the first supervisor and
for break-glass by an operator who already holds the server; it is audited with their
operating-system user."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from penaltypay.staff import links
from penaltypay.staff.models import AccountRequest, StaffLink, StaffProfile
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


def _username_problems(username: str) -> list[str]:
    if not USERNAME.fullmatch(username):
        return ["Enter a username of letters, numbers, full stops, hyphens and underscores"]
    taken = (
        User.objects.filter(username__iexact=username).exists()
        or AccountRequest.objects.filter(
            kind=AccountRequest.ADD, status=AccountRequest.PENDING, username__iexact=username
        ).exists()
    )
    return ["There is already an account with that username"] if taken else []


def mailbox(email: str) -> str:
    """The mailbox an address reaches: case folded, and without a sub-address
    (`name+anything@` reaches `name@`). Two accounts never share one."""
    local, _, domain = email.strip().casefold().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _mailbox_taken(email: str, *, for_user: User | None = None, waiting_too: bool = True) -> bool:
    """Another account (and, `waiting_too`, another change waiting for approval) already
    reaches this mailbox."""
    wanted = mailbox(email)
    domain = "@" + wanted.rsplit("@", 1)[-1]
    profiles = StaffProfile.objects.filter(email__iendswith=domain)
    if for_user is not None:
        profiles = profiles.exclude(user=for_user)
    addresses = list(profiles.values_list("email", flat=True))
    if waiting_too:
        waiting = AccountRequest.objects.filter(
            kind__in=[AccountRequest.ADD, AccountRequest.EMAIL], status=AccountRequest.PENDING, email__iendswith=domain
        )
        if for_user is not None:
            waiting = waiting.exclude(username__iexact=for_user.username)
        addresses += list(waiting.values_list("email", flat=True))
    return any(mailbox(address) == wanted for address in addresses)


def email_problems(email: str, *, for_user: User | None = None) -> list[str]:
    """A work address of its own: valid, on the agency's domains (when set), reaching a
    mailbox no other account (or change waiting for approval) reaches."""
    try:
        validate_email(email)
    except ValidationError:
        return ["Enter an email address in the correct format, like name@example.gov.uk"]
    domain = email.rsplit("@", 1)[-1].lower()
    if settings.STAFF_EMAIL_DOMAINS and domain not in settings.STAFF_EMAIL_DOMAINS:
        return [f"Enter a work email address ({', '.join(settings.STAFF_EMAIL_DOMAINS)})"]
    if _mailbox_taken(email, for_user=for_user):
        return ["That email address belongs to another account"]
    return []


# --- asked for by one supervisor, applied when another approves --------------------------------


def request_account(username: str, email: str, roles: list[Role], *, by: str) -> AccountRequest:
    username, email = username.strip(), email.strip()
    problems = _username_problems(username) + email_problems(email)
    if not roles:
        problems.append("Choose at least one role")
    if problems:
        raise AccountError(problems)
    return AccountRequest.objects.create(
        kind=AccountRequest.ADD, username=username, email=email, roles=[r.value for r in roles], requested_by=by
    )


def _pending_for(user: User, kind: str) -> bool:
    return AccountRequest.objects.filter(username=user.username, kind=kind, status=AccountRequest.PENDING).exists()


def request_roles(user: User, roles: list[Role], *, by: str) -> AccountRequest:
    if not roles:
        raise AccountError(["Choose at least one role"])
    if _pending_for(user, AccountRequest.ROLES):
        raise AccountError(["A change of roles for this account is already waiting for approval"])
    return AccountRequest.objects.create(
        kind=AccountRequest.ROLES, username=user.username, roles=[r.value for r in roles], requested_by=by
    )


def request_email(user: User, email: str, *, by: str) -> AccountRequest:
    email = email.strip()
    problems = email_problems(email, for_user=user)
    if not problems and _pending_for(user, AccountRequest.EMAIL):
        problems = ["A change of email address for this account is already waiting for approval"]
    if problems:
        raise AccountError(problems)
    return AccountRequest.objects.create(
        kind=AccountRequest.EMAIL, username=user.username, email=email, requested_by=by
    )


def request_enable(user: User, *, by: str) -> AccountRequest:
    if user.is_active:
        raise AccountError(["This account is not disabled"])
    if _pending_for(user, AccountRequest.ENABLE):
        raise AccountError(["Re-enabling this account is already waiting for approval"])
    return AccountRequest.objects.create(kind=AccountRequest.ENABLE, username=user.username, requested_by=by)


def pending_requests() -> list[AccountRequest]:
    return list(AccountRequest.objects.filter(status=AccountRequest.PENDING))


def decide(request_pk: int, *, by: str, approve: bool, note: str, base: str) -> AccountRequest:
    """A second supervisor's decision. Nobody decides their own request, or one about
    themselves. Approving applies the change at once."""
    change = AccountRequest.objects.filter(pk=request_pk, status=AccountRequest.PENDING).first()
    if change is None:
        raise AccountError(["Someone else has already decided this"])
    if change.requested_by.casefold() == by.casefold():
        raise AccountError(["You asked for this change, so another supervisor must approve or reject it"])
    if change.username.casefold() == by.casefold():
        raise AccountError(["This change is about your own account: another supervisor must decide it"])
    with transaction.atomic():
        decided = AccountRequest.objects.filter(pk=change.pk, status=AccountRequest.PENDING).update(
            status=AccountRequest.APPROVED if approve else AccountRequest.REJECTED,
            decided_by=by,
            decided_at=timezone.now(),
            note=note.strip()[:500],
        )
        if decided != 1:
            raise AccountError(["Someone else has already decided this"])
        change.refresh_from_db()
        if approve:
            _apply(change, base)
    return change


def _apply(change: AccountRequest, base: str) -> None:
    roles = [Role(value) for value in change.roles]
    if change.kind in (AccountRequest.ADD, AccountRequest.EMAIL) and change.email:
        # Checked again now: another account may have taken the mailbox since it was asked.
        user_now = User.objects.filter(username__iexact=change.username).first()
        if _mailbox_taken(change.email, for_user=user_now, waiting_too=False):
            raise AccountError(["That email address now belongs to another account: reject this request"])
    if change.kind == AccountRequest.ADD:
        if User.objects.filter(username__iexact=change.username).exists():
            raise AccountError(["There is already an account with that username"])
        user = User(username=change.username)
        user.set_unusable_password()  # the person chooses it, from their link
        user.save()
        user.groups.set(_groups(roles))
        StaffProfile.objects.create(user=user, created_by=change.requested_by, email=change.email)
        links.issue(user, StaffLink.SET_UP, by=change.decided_by, base=base)
        return
    user = User.objects.get(username=change.username)
    if change.kind == AccountRequest.ROLES:
        user.groups.set(_groups(roles))
        end_sessions(user)
    elif change.kind == AccountRequest.EMAIL:
        old = user.staff_profile.email
        StaffProfile.objects.filter(user=user).update(email=change.email)
        user.staff_profile.refresh_from_db()
        if old:
            links.notify_address_change(user.username, old, change.email)
        # A link already sent to the old address stops working.
        StaffLink.objects.filter(user=user, used_at__isnull=True, voided_at__isnull=True).update(
            voided_at=timezone.now()
        )
    elif change.kind == AccountRequest.ENABLE:
        # Back with nothing anyone else may know: a new password and app, from a new link.
        user.is_active = True
        user.set_unusable_password()
        user.save(update_fields=["is_active", "password"])
        TOTPDevice.objects.filter(user=user).delete()
        end_sessions(user)
        links.issue(user, StaffLink.SET_UP, by=change.decided_by, base=base)


# --- one supervisor alone (nothing here gives anyone power) --------------------------------------


def end_sessions(user: User) -> None:
    """Every session of this person ends at its next request."""
    StaffProfile.objects.filter(user=user).update(session_epoch=F("session_epoch") + 1)


def disable(user: User) -> None:
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])
        end_sessions(user)
        StaffLink.objects.filter(user=user, used_at__isnull=True, voided_at__isnull=True).update(
            voided_at=timezone.now()
        )


def reset_password(user: User, *, by: str, base: str) -> StaffLink:
    """The password stops working; a link to choose a new one goes to the person."""
    with transaction.atomic():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        end_sessions(user)
        return links.issue(user, StaffLink.PASSWORD, by=by, base=base)


def reset_authenticator(user: User, *, by: str, base: str) -> StaffLink:
    """The app stops working; a link to set up a new one goes to the person."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        end_sessions(user)
        return links.issue(user, StaffLink.AUTHENTICATOR, by=by, base=base)


# --- the person themselves ------------------------------------------------------------------------


def password_problems(password: str, user: User) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as error:
        return list(error.messages)
    return []


def fresh_device(user: User, replacing: int | None) -> TOTPDevice:
    """A new secret each time the set-up page is shown (the one this session was shown
    before stops working), until a code confirms one; each session can confirm only its own."""
    with transaction.atomic():
        if replacing:
            TOTPDevice.objects.filter(pk=replacing, user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


# --- the command line (the first supervisor; break-glass) -----------------------------------------


def add_staff(
    username: str, roles: list[Role], password: str, *, created_by: str, confirm_second_factor: bool, email: str = ""
) -> NewAccount:
    """An account with its password and a TOTP device, usable at once when
    `confirm_second_factor` (the operator gives the secret to the person)."""
    username = username.strip()
    problems = _username_problems(username)
    if email:
        problems += email_problems(email)
    if not roles:
        problems.append("Choose at least one role")
    user = User(username=username)
    problems += password_problems(password, user)
    if problems:
        raise AccountError(problems)
    with transaction.atomic():
        user.set_password(password)
        user.save()
        user.groups.set(_groups(roles))
        StaffProfile.objects.create(user=user, created_by=created_by, email=email)
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=confirm_second_factor)
    return NewAccount(user, device)


def reset_second_factor(user: User, *, confirm: bool) -> TOTPDevice:
    """Break-glass from the command line: a new secret, printed for the operator."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=confirm)
        end_sessions(user)
    return device


def base32_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
