"""Disputes (chargebacks): what the provider's dispute search says is the truth; a webhook
is only a hint to search now. Each dispute is kept with every status it was seen in; the
first time one is seen lost, ECS is told in the same transaction, through the outbox, as a
refund whose reference is the dispute id and whose amount is the disputed amount (the
penalty is due again and ECS's letters follow). A won dispute changes nothing in ECS.

Any number of processes may sync at once, in any order, any number of times: the row is
locked while it moves, a lost dispute never moves again, and the outbox holds one event per
reference (docs/adr/0022)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from penaltypay.audit.log import record as audit
from penaltypay.ecs.deliveries import deliveries_of_payment_lines
from penaltypay.ecs.outbox import enqueue_refund
from penaltypay.payments import ports
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.held import share_out
from penaltypay.payments.models import Dispute, DisputeEvent, Payment
from penaltypay.payments.settlement import refresh_payment

log = logging.getLogger("penaltypay.payments")

DECIDED = frozenset({"won", "lost"})


@dataclass
class SyncReport:
    seen: int = 0
    new: int = 0
    moved: int = 0
    lost: int = 0
    unknown_payment: int = 0


def sync_disputes(
    client: ports.PaymentProvider, *, since: datetime | None = None, until: datetime | None = None, source="search"
) -> SyncReport:
    """Read every dispute raised in [since, until) (by default the last DISPUTE_LOOKBACK_DAYS)
    and bring ours in line. Raises ProviderError when the search cannot be read in full."""
    now = timezone.now()
    since = since or now - timedelta(days=settings.DISPUTE_LOOKBACK_DAYS)
    until = until or now + timedelta(minutes=5)  # the provider's clock may be a little ahead
    report = SyncReport()
    for remote in client.search_disputes(since, until):
        report.seen += 1
        _settle_first(remote, client)
        outcome = record_dispute(remote, source=source)
        if outcome is None:
            report.unknown_payment += 1
            continue
        report.new += outcome.new
        report.moved += outcome.moved
        report.lost += outcome.became_lost
    return report


def _settle_first(remote: ports.ProviderDispute, client: ports.PaymentProvider) -> None:
    """A disputed payment was taken: if we have not seen it succeed yet (its webhook lost, the
    keeper gone), settle it now, so ECS hears of the payment before its reversal."""
    payment = Payment.objects.filter(provider_payment_id=remote.payment_id).first()
    if payment is not None and payment.state is not PaymentStatus.SUCCESS:
        refresh_payment(payment, client, source="dispute")


@dataclass(frozen=True)
class Recorded:
    dispute: Dispute
    new: bool
    moved: bool
    became_lost: bool


def record_dispute(remote: ports.ProviderDispute, *, source: str) -> Recorded | None:
    """Keep one dispute as the provider reports it. None when it is on a payment we do not hold."""
    payment = Payment.objects.filter(provider_payment_id=remote.payment_id).first()
    if payment is None:
        log.error("dispute on a payment penaltypay does not hold", extra={"dispute_id": remote.dispute_id})
        return None
    try:
        return _record(payment, remote, source)
    except IntegrityError:
        # Another process created the row between our read and insert: theirs stands; apply ours on top.
        return _record(payment, remote, source)


def _record(payment: Payment, remote: ports.ProviderDispute, source: str) -> Recorded:
    now = timezone.now()
    with transaction.atomic():
        dispute = Dispute.objects.select_for_update().filter(provider_dispute_id=remote.dispute_id).first()
        new = dispute is None
        if dispute is None:
            dispute = Dispute.objects.create(
                provider_dispute_id=remote.dispute_id,
                payment=payment,
                amount_pence=remote.amount,
                fee_pence=remote.fee,
                reason=remote.reason[:40],
                status="",
                raised_at=remote.created_date,
                evidence_due_at=remote.evidence_due_date,
            )
        before = dispute.status
        if before in DECIDED and remote.status != before:
            # A decided dispute never moves again here: shouted about, never applied.
            log.error(
                "provider reports a decided dispute in another status",
                extra={"dispute_id": remote.dispute_id, "ours": before, "provider": remote.status},
            )
            return Recorded(dispute, new=False, moved=False, became_lost=False)
        fields: dict[str, object] = {
            "status": remote.status,
            "evidence_due_at": remote.evidence_due_date or dispute.evidence_due_at,
            "net_pence": remote.net_amount,
            "settled_date": remote.settled_date,
            "fee_pence": remote.fee,
        }
        moved = remote.status != before
        if moved and remote.status in DECIDED:
            fields["decided_at"] = now
        became_lost = moved and remote.status == "lost"
        if became_lost:
            fields["ecs_note"] = _tell_ecs(payment, dispute, remote, now)
        changed = {name: value for name, value in fields.items() if getattr(dispute, name) != value}
        if changed:
            Dispute.objects.filter(pk=dispute.pk).update(**changed, updated_at=now)
            for name, value in changed.items():
                setattr(dispute, name, value)
        if moved:
            DisputeEvent.objects.create(dispute=dispute, from_status=before, to_status=remote.status, source=source)
            audit(
                "provider",
                f"dispute_{remote.status}",
                object_type="payment",
                object_id=payment.reference,
                detail=f"dispute {remote.dispute_id}: {remote.amount} pence, reason {remote.reason or 'not given'}",
                actor_kind="system",
            )
            log.warning(
                "payment disputed" if before == "" else "dispute moved",
                extra={
                    "payment_reference": payment.reference,
                    "dispute_id": remote.dispute_id,
                    "status": remote.status,
                },
            )
    return Recorded(dispute, new=new, moved=moved, became_lost=became_lost)


def _tell_ecs(payment: Payment, dispute: Dispute, remote: ports.ProviderDispute, now: datetime) -> str:
    """Queue ECS's reversal (in the caller's transaction): one refund per penalty the payment
    paid, each its share of the disputed amount; returns the note kept with the dispute."""
    lines = list(payment.lines.values_list("case_reference", "amount_pence"))
    delivered = deliveries_of_payment_lines([payment.reference])
    told = 0
    for (case, _), part in zip(lines, share_out(remote.amount, [a for _, a in lines]), strict=True):
        delivery = delivered.get((payment.reference, case))
        if not part or (delivery is not None and delivery.never_to_ecs):
            continue  # nothing taken back on it, or the payment never went to ECS there
        try:
            with transaction.atomic():  # a savepoint: a second event for the same reference is refused
                enqueue_refund(
                    case_reference=case,
                    payment_reference=payment.reference,
                    refund_reference=dispute.provider_dispute_id,
                    amount_pence=part,
                    refunded_at=now,
                )
        except IntegrityError:
            pass  # already queued by an earlier sync (kept once by the outbox)
        told += 1
    return "queued" if told else "not sent: the payment itself never went to ECS (resolved by a person)"


def lost_amount_by_payment(payment_ids) -> dict[object, int]:
    """The pence taken back by lost disputes, per payment (for the held rule and refunds)."""
    totals: dict[object, int] = {}
    for payment_id, amount in Dispute.objects.filter(payment_id__in=list(payment_ids), status="lost").values_list(
        "payment_id", "amount_pence"
    ):
        totals[payment_id] = totals.get(payment_id, 0) + amount
    return totals


def open_dispute(payment: Payment) -> Dispute | None:
    """A dispute still being decided: no refund may be made meanwhile (the provider refuses)."""
    return payment.disputes.filter(status__in=sorted(ports.OPEN_DISPUTE_STATUSES)).first()


def note_evidence_sent(dispute_id: str, *, by: str, note: str) -> Dispute:
    """Finance says it answered the provider's dispute form (kept, audited, on the timeline)."""
    if not note.strip():
        raise ValueError("say what was sent (it is kept with the dispute)")
    with transaction.atomic():
        dispute = Dispute.objects.select_for_update().get(provider_dispute_id=dispute_id)
        if not dispute.is_open:
            raise ValueError("the dispute has been decided: nothing more can be sent")
        now = timezone.now()
        Dispute.objects.filter(pk=dispute.pk).update(
            evidence_sent_by=by, evidence_sent_at=now, evidence_note=note.strip()[:500], updated_at=now
        )
        DisputeEvent.objects.create(
            dispute=dispute,
            from_status=dispute.status,
            to_status=dispute.status,
            source="person",
            by=by,
            note=f"evidence sent: {note.strip()}"[:300],
        )
        dispute.refresh_from_db()
    return dispute


def note_dispute_settled(provider_dispute_id: str, settled_date: date | None) -> None:
    """The payout a lost dispute came out of (the provider's settlement report); kept once."""
    Dispute.objects.filter(provider_dispute_id=provider_dispute_id, settled_date__isnull=True).update(
        settled_date=settled_date
    )
