from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from penaltypay.payments.domain import CHANNEL_ONLINE, CHANNEL_PHONE, LIVE_STATUSES, PaymentStatus
from penaltypay.payments.refund_rules import RefundStatus


class Payment(models.Model):
    """One attempt to take a payment for one case.

    Written before the provider is called (so a crash or timeout never leaves a
    provider payment we know nothing about), then moved by `settle_payment` only.
    """

    CHANNEL_ONLINE = CHANNEL_ONLINE
    CHANNEL_PHONE = CHANNEL_PHONE

    # Unguessable: it is in the return URL.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=36, unique=True)
    # The first penalty it pays (a basket pays several: its lines say which). Named so that no
    # code asks it "which payments belong to this case?": penaltypay.payments.queries answers
    # that over the lines. The column keeps its old name until the release after the one that
    # stopped reading it (expand, then contract: ADR 0025).
    first_case_reference = models.CharField(max_length=8, db_index=True, db_column="case_reference")
    case_type = models.CharField(max_length=4)
    amount_pence = models.BigIntegerField()
    description = models.CharField(max_length=255)
    email = models.EmailField(max_length=254, blank=True)
    language = models.CharField(max_length=2, default="en")
    channel = models.CharField(max_length=10, default=CHANNEL_ONLINE)
    # Who took it: blank for a keeper online; a staff username for a phone payment.
    created_by = models.CharField(max_length=150, blank=True)
    # Who may resume it while it is live (penaltypay.payments.checkout.Payer): the keeper's
    # session token, the agent or the API client. Blank on payments made before it existed.
    owner = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in PaymentStatus], default=PaymentStatus.NEW.value
    )
    provider_payment_id = models.CharField(max_length=64, blank=True, db_index=True)
    provider_status = models.CharField(max_length=20, blank=True)
    failure_code = models.CharField(max_length=10, blank=True)
    psp_reference = models.CharField(max_length=64, blank=True)  # provider_id, sent to ECS
    card_brand = models.CharField(max_length=40, blank=True)
    wallet_type = models.CharField(max_length=20, blank=True)  # "Apple Pay", "Google Pay" or blank (card)
    # Whether the card's bank asked for 3-D Secure (the provider's authorisation summary);
    # None until the payment finishes, or for payments from before it was recorded.
    three_d_secure_required = models.BooleanField(null=True, blank=True)
    # A keyed hash of the payer's address (card testing is counted per address), and the
    # agent who sent the payment link this payment came from, if it did.
    payer_address_hash = models.CharField(max_length=32, blank=True)
    link_sent_by = models.CharField(max_length=150, blank=True)
    request_id = models.CharField(max_length=64, blank=True)  # the request that made it, for its log lines
    # The payer's own reference (a fleet's purchase order or cost centre), on the receipt.
    payer_reference = models.CharField(max_length=50, blank=True)
    card_last_four = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorised_at = models.DateTimeField(null=True, blank=True)  # ECS PaidAt
    finished_at = models.DateTimeField(null=True, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)
    # Set once ECS's ledger holds this payment (delivery comes with the ECS outbox).
    ecs_recorded_at = models.DateTimeField(null=True, blank=True)
    # The provider's settlement: its fee, what reaches the bank, and the payout's day.
    fee_pence = models.BigIntegerField(null=True, blank=True)
    net_pence = models.BigIntegerField(null=True, blank=True)
    settled_date = models.DateField(null=True, blank=True)

    class Meta:
        db_table = "payment"
        constraints = [
            # Never two live payments for one penalty: a double click, a retry or a
            # timeout collides here instead of creating a second provider payment.
            models.UniqueConstraint(
                fields=["first_case_reference"],
                condition=Q(status__in=sorted(s.value for s in LIVE_STATUSES)),  # sorted: a stable migration
                name="one_live_payment_per_case",
            )
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="payment_status_updated")]

    def __str__(self) -> str:
        return f"payment {self.reference} ({self.status})"

    lines_given = False  # not a column: a basket's creator sets it and writes the lines itself

    def save(self, *args, **kwargs):
        """A payment always has its lines. One for one penalty is written with it here; a
        basket's creator writes its own (`lines_given`), in the same transaction."""
        adding = self._state.adding
        super().save(*args, **kwargs)
        if adding and not self.lines_given:
            PaymentLine.objects.create(
                payment=self,
                position=0,
                case_reference=self.first_case_reference,
                case_type=self.case_type,
                amount_pence=self.amount_pence,
                live=self.state in LIVE_STATUSES,
                ecs_recorded_at=self.ecs_recorded_at,
            )

    @property
    def state(self) -> PaymentStatus:
        return PaymentStatus(self.status)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_STATUSES


class PaymentLine(models.Model):
    """One penalty a payment pays, and how much of it: a payment for one penalty has one
    line; a basket (a fleet's penalties, paid at once) has one per penalty. Each line is
    written to ECS as its own RecordPayment against its own case; `live` holds the case
    while the payment is on a card page (never two live payments for one penalty)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    case_reference = models.CharField(max_length=8, db_index=True)
    case_type = models.CharField(max_length=4)
    vrm = models.CharField(max_length=7, blank=True)  # for the keeper's receipt and pages (blanked by retention)
    amount_pence = models.BigIntegerField()
    live = models.BooleanField(default=True)
    ecs_recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payment_line"
        ordering = ["payment_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["payment", "case_reference"], name="one_line_per_case_per_payment"),
            models.UniqueConstraint(fields=["case_reference"], condition=Q(live=True), name="one_live_line_per_case"),
        ]

    def __str__(self) -> str:
        return f"line {self.position} of {self.payment_id}: {self.case_reference}"


class PaymentEvent(models.Model):
    """Every status change of a payment, with what caused it (return, poller, webhook)."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    source = models.CharField(max_length=20)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payment_event"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status} ({self.source})"


class WebhookMessage(models.Model):
    """Each provider webhook message id seen, so a duplicate is recognised."""

    message_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_message"

    def __str__(self) -> str:
        return f"webhook {self.message_id} ({self.event_type})"


class Refund(models.Model):
    """Money asked back for a keeper from one payment: requested by one finance user,
    decided by another, then asked of the provider and followed to its end
    (`penaltypay.payments.refunds`)."""

    reference = models.CharField(max_length=36, unique=True)  # ours; ECS RefundReference
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    # The penalty (the payment's line) the money goes back for: ECS hears of it on that case.
    case_reference = models.CharField(max_length=8, blank=True)
    amount_pence = models.BigIntegerField()
    reason = models.CharField(max_length=20)  # a key of refund_rules.REASONS
    reason_detail = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=20, choices=[(s.value, s.value) for s in RefundStatus], default=RefundStatus.REQUESTED.value
    )
    requested_by = models.CharField(max_length=150)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=500, blank=True)
    provider_refund_id = models.CharField(max_length=64, blank=True, db_index=True)
    provider_status = models.CharField(max_length=20, blank=True)
    # Set when the provider may have made the refund without our hearing (a timeout): its
    # list of refunds for the payment is read before asking again.
    submit_unknown = models.BooleanField(default=False)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Whether ECS is told: "queued" (an outbox event), or why not.
    ecs_note = models.CharField(max_length=200, blank=True)
    ecs_recorded_at = models.DateTimeField(null=True, blank=True)  # once ECS's ledger holds it
    email_sent_at = models.DateTimeField(null=True, blank=True)
    # A refund the provider could not make, paid another way: how, its reference (the bank
    # transfer's or the cheque's number) and who recorded it (another person approves).
    offline_method = models.CharField(max_length=20, blank=True)
    offline_reference = models.CharField(max_length=100, blank=True)
    offline_by = models.CharField(max_length=150, blank=True)
    # A failed refund on the exceptions list, dealt with by a person.
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(max_length=500, blank=True)
    # Who is asking the provider now, and until when: the approver while their call is out;
    # the re-checker takes over only once the lease has run out (never both at once).
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "refund"
        indexes = [models.Index(fields=["status", "updated_at"], name="refund_status_updated")]

    def __str__(self) -> str:
        return f"refund {self.reference} ({self.status})"

    @property
    def state(self) -> RefundStatus:
        return RefundStatus(self.status)


class RefundEvent(models.Model):
    """Every status a refund moved to, from what, why and by whom: the timeline reads this."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20)
    source = models.CharField(max_length=20)  # request | decision | provider | webhook | recheck | person
    by = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "refund_event"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status} -> {self.to_status} ({self.source})"


class PaymentLink(models.Model):
    """A link an agent sends a keeper (email, or text message) to pay one penalty online
    themselves: it opens the penalty after the keeper confirms the registration, works for
    PAYMENT_LINK_DAYS and stops once the penalty is paid. Only a hash of its token is kept."""

    token_hash = models.CharField(max_length=64, unique=True)
    case_reference = models.CharField(max_length=8, db_index=True)
    sent_by = models.CharField(max_length=150)
    email = models.EmailField(max_length=254, blank=True)  # where it was sent (blanked by retention)
    mobile = models.CharField(max_length=20, blank=True)
    language = models.CharField(max_length=2, default="en")
    sent_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)  # the registration confirmed
    paid_at = models.DateTimeField(null=True, blank=True)
    payment_reference = models.CharField(max_length=36, blank=True)

    class Meta:
        db_table = "payment_link"
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"payment link for {self.case_reference}"


class Dispute(models.Model):
    """A payer's bank taking a payment back (a chargeback), as the provider's dispute search
    reports it (`penaltypay.payments.disputes`). A lost one is money gone: ECS is told
    through the outbox (`RecordRefund`, the dispute id as RefundReference) exactly once."""

    provider_dispute_id = models.CharField(max_length=36, unique=True)  # ECS RefundReference once lost
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    amount_pence = models.BigIntegerField()
    fee_pence = models.BigIntegerField(default=0)  # the provider's dispute fee
    net_pence = models.BigIntegerField(null=True, blank=True)  # taken from a payout (negative), once lost
    reason = models.CharField(max_length=40, blank=True)
    status = models.CharField(max_length=20)  # needs_response | under_review | won | lost
    raised_at = models.DateTimeField()  # when the bank told the provider
    evidence_due_at = models.DateTimeField(null=True, blank=True)
    settled_date = models.DateField(null=True, blank=True)  # the payout it came out of (lost)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)  # when we first saw it won or lost
    updated_at = models.DateTimeField(auto_now=True)
    ecs_note = models.CharField(max_length=200, blank=True)  # "queued", or why ECS is not told
    ecs_recorded_at = models.DateTimeField(null=True, blank=True)
    # Finance's answer to the provider's dispute form: who sent the evidence, when, and what.
    evidence_sent_by = models.CharField(max_length=150, blank=True)
    evidence_sent_at = models.DateTimeField(null=True, blank=True)
    evidence_note = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "dispute"
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["status", "evidence_due_at"], name="dispute_open_due")]

    def __str__(self) -> str:
        return f"dispute {self.provider_dispute_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in ("needs_response", "under_review")


class DisputeEvent(models.Model):
    """Every status a dispute was seen in, and how we learned it (search or webhook)."""

    dispute = models.ForeignKey(Dispute, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    source = models.CharField(max_length=20)  # search | webhook | person
    by = models.CharField(max_length=150, blank=True)
    note = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "dispute_event"
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or 'new'} -> {self.to_status} ({self.source})"
