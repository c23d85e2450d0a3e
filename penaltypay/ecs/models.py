"""The durable outbox: what ECS must be told, written in the same transaction as the
money event it describes, and delivered by the worker exactly once, in order per case."""

from __future__ import annotations

from django.db import models


class OutboxEvent(models.Model):
    KIND_PAYMENT = "PAYMENT"
    KIND_REFUND = "REFUND"

    PENDING = "pending"  # to be sent (maybe waiting for next_attempt_at or an earlier event)
    SENT = "sent"  # in the ECS ledger
    EXCEPTION = "exception"  # stopped: a person must act (see exception_reason)
    RESOLVED = "resolved"  # an exception a person has dealt with; never sent

    # The global id orders events; within a case, a lower id is always delivered first.
    id = models.BigAutoField(primary_key=True)
    case_reference = models.CharField(max_length=8)
    kind = models.CharField(max_length=8, choices=[(KIND_PAYMENT, "payment"), (KIND_REFUND, "refund")])
    payment_reference = models.CharField(max_length=36)
    refund_reference = models.CharField(max_length=36, blank=True)
    amount_pence = models.BigIntegerField()
    effective_at = models.DateTimeField()  # PaidAt (authorisation time) or RefundedAt
    channel = models.CharField(max_length=10, default="ONLINE")
    psp_reference = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Set before every write call and cleared only by a definite answer: if it is set,
    # the last write may have taken effect, so the ledger is read before writing again.
    outcome_unknown = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField()
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    exception_reason = models.CharField(max_length=300, blank=True)
    receipt_number = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    # Who dealt with an exception, when, and what they did (resolved or re-queued).
    handled_by = models.CharField(max_length=100, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    handling_note = models.CharField(max_length=500, blank=True)
    request_id = models.CharField(max_length=64, blank=True)  # its payment's request: the worker logs under it

    class Meta:
        db_table = "ecs_outbox"
        constraints = [
            # One event per payment and one per refund, on each case (a basket's payment is one
            # RecordPayment per penalty): enqueuing twice is impossible.
            models.UniqueConstraint(
                fields=["kind", "payment_reference", "refund_reference", "case_reference"],
                name="one_event_per_money_event_per_case",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["case_reference", "id"], name="outbox_case_order"),
            # The worker claims the lowest pending id that is due and heads its case. Sent rows
            # pile up below the pending ones for ever; this index lets that search walk the
            # pending rows in id order and stop at the first fit, instead of walking every sent
            # row (pk order) or checking every pending row's case and sorting (outbox_due).
            models.Index(fields=["id"], condition=models.Q(status="pending"), name="outbox_pending_in_order"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.ledger_reference} for case {self.case_reference} ({self.status})"

    @property
    def ledger_reference(self) -> str:
        return self.refund_reference if self.kind == self.KIND_REFUND else self.payment_reference


class DeliveryAttempt(models.Model):
    """One try at putting an event in the ECS ledger, and how it ended (for the staff
    timeline and for anyone asking "what happened to this payment?")."""

    SENT = "sent"
    FOUND_IN_LEDGER = "found-in-ledger"  # an earlier write had taken effect: not written again
    RETRY = "retry"
    EXCEPTION = "exception"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="delivery_attempts")
    at = models.DateTimeField()
    outcome = models.CharField(max_length=20)
    detail = models.CharField(max_length=300, blank=True)  # ECS's error or receipt number
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        db_table = "ecs_delivery_attempt"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.outcome} at {self.at:%Y-%m-%d %H:%M:%S}"


class EcsBreaker(models.Model):
    """The circuit breaker's state, shared by every worker process (one row)."""

    name = models.CharField(max_length=20, primary_key=True, default="ecs")
    state = models.CharField(max_length=10, default="closed")
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    open_seconds = models.FloatField(default=5.0)
    version = models.PositiveBigIntegerField(default=0)  # compare-and-set guard
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "ecs_breaker"

    def __str__(self) -> str:
        return f"ECS breaker {self.state}"
