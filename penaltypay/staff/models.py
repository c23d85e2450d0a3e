"""What the back office keeps about a member of staff beyond Django's user: their work
email address, one-time links sent to it, and changes to who someone is that wait for a
second supervisor (docs/adr/0019)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_profile")
    # Raised by "sign out everywhere" and by disabling the account: a session signed in under
    # an older number is ended at its next request.
    session_epoch = models.PositiveIntegerField(default=0)
    created_by = models.CharField(max_length=150, blank=True)
    # Where one-time links go: set when the account is added, changed only with a second
    # supervisor's approval (and a notice to the old address).
    email = models.EmailField(max_length=254, blank=True)

    class Meta:
        db_table = "staff_profile"

    def __str__(self) -> str:
        return f"staff {self.user}"


class StaffLink(models.Model):
    """A one-time link emailed to the person: set up the account (choose a password, then
    the authenticator app), choose a new password, or set up a new authenticator app. Only
    a hash of its token is kept; it is used once and expires."""

    SET_UP = "set-up"
    PASSWORD = "password"  # noqa: S105 - the name of a purpose, not a password
    AUTHENTICATOR = "authenticator"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_links")
    purpose = models.CharField(max_length=20)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)
    expires_at = models.DateTimeField()
    password_set_at = models.DateTimeField(null=True, blank=True)  # set-up: the first step done
    used_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)  # a newer link replaced it

    class Meta:
        db_table = "staff_link"

    def __str__(self) -> str:
        return f"{self.purpose} link for {self.user}"


class AccountRequest(models.Model):
    """A change to who someone is — a new account, roles, an email address, re-enabling —
    asked for by one supervisor and applied only when another approves it."""

    ADD = "add"
    ROLES = "roles"
    EMAIL = "email"
    ENABLE = "enable"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    kind = models.CharField(max_length=10)
    username = models.CharField(max_length=150, db_index=True)
    roles = models.JSONField(default=list, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    requested_by = models.CharField(max_length=150)
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, default=PENDING)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "staff_account_request"
        ordering = ["requested_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.username} ({self.status})"
