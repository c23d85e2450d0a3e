"""Reconciliation runs and what each found. A day may be run many times: each run is kept,
and compared with the one before it."""

from __future__ import annotations

from django.db import models

from penaltypay.reconciliation.rules import ACTIONS, Class


class ReconciliationRun(models.Model):
    RUNNING = "running"
    BALANCED = "balanced"
    DIFFERENCES = "differences"
    INCOMPLETE = "incomplete"

    day = models.DateField(db_index=True)  # a Europe/London calendar day
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, default=RUNNING)
    trigger = models.CharField(max_length=10)  # schedule | command | staff
    by = models.CharField(max_length=150, blank=True)
    provider_pence = models.BigIntegerField(default=0)
    penaltypay_pence = models.BigIntegerField(default=0)
    ecs_pence = models.BigIntegerField(default=0)
    counts = models.JSONField(default=dict)
    problem = models.CharField(max_length=300, blank=True)  # why it is incomplete
    cases_read = models.PositiveIntegerField(default=0)
    ecs_calls = models.PositiveIntegerField(default=0)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        db_table = "reconciliation_run"
        ordering = ["-day", "-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconciliation {self.day} ({self.status})"


class ReconciliationItem(models.Model):
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    cls = models.CharField(max_length=24, choices=[(c.value, c.value) for c in Class])
    kind = models.CharField(max_length=8)  # PAYMENT | REFUND
    key = models.CharField(max_length=64)  # our reference, or the provider's id when we hold nothing
    case_reference = models.CharField(max_length=8, blank=True)
    payment_reference = models.CharField(max_length=64, blank=True)
    provider_pence = models.BigIntegerField(default=0)
    penaltypay_pence = models.BigIntegerField(default=0)
    ecs_pence = models.BigIntegerField(default=0)
    detail = models.CharField(max_length=300, blank=True)
    # Money taken that we never recorded is an exception until a person deals with it.
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "reconciliation_item"
        indexes = [models.Index(fields=["cls", "resolved_at"], name="reconciliation_open_class")]

    def __str__(self) -> str:
        return f"{self.cls} {self.key}"

    @property
    def amount_pence(self) -> int:
        return self.penaltypay_pence or self.provider_pence or self.ecs_pence

    @property
    def action(self) -> str:
        return ACTIONS[Class(self.cls)]


class LedgerRead(models.Model):
    """One case's ECS ledger as a run read it: a run that ECS dropped out of resumes from
    here instead of reading every case again."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="ledger_reads")
    case_reference = models.CharField(max_length=8)
    lines = models.JSONField(default=list)
    read_at = models.DateTimeField()

    class Meta:
        db_table = "reconciliation_ledger_read"
        constraints = [models.UniqueConstraint(fields=["run", "case_reference"], name="one_read_per_case_per_run")]

    def __str__(self) -> str:
        return f"ledger {self.case_reference}"
