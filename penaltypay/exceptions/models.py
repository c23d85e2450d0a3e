"""What the exceptions queue remembers beyond the money records themselves."""

from __future__ import annotations

from django.db import models


class ExceptionAlert(models.Model):
    """One exception the team has been (or is to be) told about: one email per new one."""

    key = models.CharField(max_length=120, unique=True)  # e.g. "ecs-refused:1234", "overpaid:70000001:4000"
    kind = models.CharField(max_length=20)
    raised_at = models.DateTimeField()
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "exception_alert"

    def __str__(self) -> str:
        return self.key


class OverpaymentReview(models.Model):
    """A person looked at a case's over-payment of this size and dealt with it another way."""

    case_reference = models.CharField(max_length=8)
    excess_pence = models.BigIntegerField()
    resolved_by = models.CharField(max_length=150)
    resolved_at = models.DateTimeField()
    note = models.CharField(max_length=500)

    class Meta:
        db_table = "overpayment_review"
        constraints = [models.UniqueConstraint(fields=["case_reference", "excess_pence"], name="one_review_per_excess")]

    def __str__(self) -> str:
        return f"over-payment {self.case_reference} {self.excess_pence}"
