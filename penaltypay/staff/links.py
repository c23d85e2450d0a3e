"""One-time links emailed to a member of staff: set up the account (their own password,
then their own authenticator app), choose a new password, or set up a new app. Nobody else
ever sees a password or a secret: the link goes to the person's work address, is used
once, expires after STAFF_LINK_HOURS, and a newer link voids the older ones."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from penaltypay.exceptions.ports import TeamEmail
from penaltypay.kernel.wiring import Wire
from penaltypay.staff.models import StaffLink

# Emails to a member of staff (wired in penaltypay.operations.apps).
staff_mail: Wire[TeamEmail] = Wire("staff mail")

WHAT = {
    StaffLink.SET_UP: (
        "Set up your penalty payments back office account",
        "Choose your password and set up your authenticator app",
    ),
    StaffLink.PASSWORD: ("Choose a new password for the penalty payments back office", "Choose a new password"),
    StaffLink.AUTHENTICATOR: (
        "Set up your authenticator app for the penalty payments back office again",
        "Set up your authenticator app again",
    ),
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_url(token: str, base: str) -> str:
    origin = (settings.PUBLIC_BASE_URL or base).rstrip("/")
    return origin + reverse("staff:link", args=[token])


def open_links(user: User) -> list[StaffLink]:
    return list(
        StaffLink.objects.filter(user=user, used_at__isnull=True, voided_at__isnull=True, expires_at__gt=timezone.now())
    )


def issue(user: User, purpose: str, *, by: str, base: str) -> StaffLink:
    """A new link, sent to the person's own address; older open links stop working. A
    password reset while an authenticator reset is open (or the other way round) becomes
    one link that does both."""
    address = user.staff_profile.email
    if not address:
        raise ValueError("this account has no email address to send a link to")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        waiting = {link.purpose for link in open_links(user)}
        if purpose != StaffLink.SET_UP and (waiting - {purpose}):
            purpose = StaffLink.SET_UP
        StaffLink.objects.filter(user=user, used_at__isnull=True, voided_at__isnull=True).update(
            voided_at=timezone.now()
        )
        link = StaffLink.objects.create(
            user=user,
            purpose=purpose,
            token_hash=_hash(token),
            created_by=by,
            expires_at=timezone.now() + timedelta(hours=settings.STAFF_LINK_HOURS),
        )
    subject, action = WHAT[purpose]
    body = (
        f"Hello {user.username},\n\n{action} for the penalty payments back office:\n\n"
        f"{link_url(token, base)}\n\n"
        f"The link works once, for {settings.STAFF_LINK_HOURS} hours. If you did not expect it, "
        "do not use it: tell your supervisor or the service team.\n"
    )
    transaction.on_commit(lambda: staff_mail().send(subject, body, address))
    return link


def find(token: str) -> StaffLink | None:
    """The open link with this token, or None (unknown, used, replaced or expired)."""
    link = StaffLink.objects.select_related("user").filter(token_hash=_hash(token)).first()
    if link is None or link.used_at or link.voided_at or link.expires_at <= timezone.now():
        return None
    if not link.user.is_active:
        return None
    return link


def finish(link: StaffLink) -> bool:
    """Used up (compare-and-set: a link is used once)."""
    return StaffLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now()) == 1


def notify_address_change(username: str, old: str, new: str) -> None:
    body = (
        f"Hello {username},\n\nThe email address of your penalty payments back office account has been "
        f"changed from this address to {new}. Links to set up or reset the account now go there.\n\n"
        "If you did not expect this, tell the service team at once.\n"
    )
    transaction.on_commit(lambda: staff_mail().send("Your back office account's email address has changed", body, old))
