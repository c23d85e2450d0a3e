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
    bank_pence = models.BigIntegerField(default=0)  # the bank's side: the statement's lines for the day
    fees_pence = models.BigIntegerField(default=0)  # the provider's fees settled that day (payments, disputes)
    settled_net_pence = models.BigIntegerField(default=0)  # the payout the provider's settlement says is due
    bank_loaded = models.BooleanField(default=False)  # a loaded statement covers the day
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
    kind = models.CharField(max_length=8)  # PAYMENT | REFUND | DISPUTE | PAYOUT | BANK
    key = models.CharField(max_length=64)  # our reference, or the provider's id when we hold nothing
    case_reference = models.CharField(max_length=8, blank=True)
    payment_reference = models.CharField(max_length=64, blank=True)
    provider_pence = models.BigIntegerField(default=0)
    penaltypay_pence = models.BigIntegerField(default=0)
    ecs_pence = models.BigIntegerField(default=0)
    bank_pence = models.BigIntegerField(default=0)
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
        return self.penaltypay_pence or self.provider_pence or self.ecs_pence or self.bank_pence

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


class BankStatement(models.Model):
    """One bank statement file finance loaded: the days it covers are the days whose payout
    can be checked against the bank. The same file loaded again is this row again."""

    sha256 = models.CharField(max_length=64, unique=True)
    file_name = models.CharField(max_length=200, blank=True)
    first_day = models.DateField()
    last_day = models.DateField()
    lines = models.PositiveIntegerField()
    new_lines = models.PositiveIntegerField()  # lines no earlier statement held
    loaded_at = models.DateTimeField()
    loaded_by = models.CharField(max_length=150)

    class Meta:
        db_table = "bank_statement"
        ordering = ["-loaded_at", "-id"]

    def __str__(self) -> str:
        return f"bank statement {self.first_day}..{self.last_day}"


class BankStatementLine(models.Model):
    """One line of the bank account's statement. `line_key` names it whatever file it came
    in (its date, description, amount, and which of identical lines it is), so overlapping
    statements never hold a line twice."""

    line_key = models.CharField(max_length=64, unique=True)
    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="statement_lines")
    day = models.DateField(db_index=True)
    description = models.CharField(max_length=200)
    amount_pence = models.BigIntegerField()  # credits positive

    class Meta:
        db_table = "bank_statement_line"
        ordering = ["day", "id"]

    def __str__(self) -> str:
        return f"{self.day} {self.description} {self.amount_pence}"
