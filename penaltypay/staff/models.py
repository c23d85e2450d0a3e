"""What the back office keeps about a member of staff beyond Django's user."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_profile")
    # Raised by "sign out everywhere" and by disabling the account: a session signed in under
    # an older number is ended at its next request.
    session_epoch = models.PositiveIntegerField(default=0)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        db_table = "staff_profile"

    def __str__(self) -> str:
        return f"staff {self.user}"
