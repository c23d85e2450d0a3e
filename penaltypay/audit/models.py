"""The audit log: every staff action, who, when, what, on what, from where, with what
outcome. Append-only: the database refuses UPDATE and DELETE on PostgreSQL (a trigger,
migration 0002); the model and its queryset refuse them everywhere else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.utils import timezone

from penaltypay.audit.policy import HASHED, address_hash


class AppendOnly(Exception):
    """An audit entry is never changed or removed."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be changed")

    def delete(self) -> NoReturn:
        raise AppendOnly("audit entries cannot be removed")


class AuditEntry(models.Model):
    SUCCESS = "success"
    FAILURE = "failure"
    REFUSED = "refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)  # a staff username, an API client, "system"
    actor_kind = models.CharField(max_length=20, default="staff")  # staff | api-client | command | system
    action = models.CharField(max_length=60, db_index=True)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=80, blank=True)
    address = models.CharField(max_length=64, blank=True)  # where from (a client address)
    outcome = models.CharField(max_length=20, default=SUCCESS)
    detail = models.CharField(max_length=500, blank=True)  # identifiers only, never personal data

    objects = AuditQuerySet.as_manager()

    class Meta:
        db_table = "audit_entry"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnly("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("audit entries cannot be removed")

    @classmethod
    def pseudonymise_address(cls, pk: int) -> None:
        """The one change an entry may have: once its address is older than
        RETENTION_AUDIT_ADDRESS_DAYS, the address is replaced by its keyed hash, once. On
        PostgreSQL the database checks the same (migration 0004); here the model does."""
        entry = models.QuerySet(model=cls).filter(pk=pk).values("address", "at").first()
        oldest = timezone.now() - timedelta(days=max(1, settings.RETENTION_AUDIT_ADDRESS_DAYS))
        if entry is None or not entry["address"] or entry["address"].startswith(HASHED) or entry["at"] >= oldest:
            raise AppendOnly("only an address older than the retention period may be replaced, once")
        plain: models.QuerySet[AuditEntry] = models.QuerySet(model=cls).filter(pk=pk, address=entry["address"])
        models.QuerySet.update(plain, address=address_hash(entry["address"]))
