"""Refunds: asked for by one finance user, approved by another, asked of the provider,
followed to success or error (webhooks and the re-checker, as for payments), and — on
success — put in the ECS outbox in the same transaction, unless its payment never
reached ECS. The keeper is emailed once. docs/adr/0012-refunds-exceptions-phone.md."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from penaltypay.ecs.models import OutboxEvent
from penaltypay.ecs.outbox import enqueue_refund, resolve_exception
from penaltypay.kernel.metrics import RECEIPTS
from penaltypay.payments import ports
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.receipts import receipt_sender
from penaltypay.payments.refund_rules import (
    REASONS,
    RefundRuleBroken,
    RefundStatus,
    check_decider,
    check_request,
    new_refund_reference,
    refundable_pence,
)

log = logging.getLogger("penaltypay.payments")
SYSTEM = "penaltypay"
# An approved refund the provider has not confirmed taking is asked about again after this
# long (well beyond the provider client's timeout, so the first asker has given up).
RESUBMIT_AFTER = timedelta(seconds=60)


def remaining_refundable(payment: Payment) -> int:
    refunds = Refund.objects.filter(payment=payment).values_list("amount_pence", "status")
    return refundable_pence(payment.amount_pence, [(amount, RefundStatus(status)) for amount, status in refunds])


def request_refund(payment_reference: str, amount_pence: int, reason: str, detail: str, *, by: str) -> Refund:
    """A refund waiting for a second person. The payment row is locked while the remaining
    amount is worked out, so two requests at once can never promise more than was paid."""
    if reason not in REASONS:
        raise RefundRuleBroken("Choose a reason for the refund")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(reference=payment_reference)
        if payment.state is not PaymentStatus.SUCCESS:
            raise RefundRuleBroken("Only a successful payment can be refunded")
        check_request(amount_pence, remaining_refundable(payment))
        return Refund.objects.create(
            reference=new_refund_reference(),
            payment=payment,
            amount_pence=amount_pence,
            reason=reason,
            reason_detail=detail.strip()[:500],
            requested_by=by,
        )


def _decide(refund_reference: str, *, by: str, note: str, to: RefundStatus) -> Refund:
    refund = Refund.objects.get(reference=refund_reference)
    check_decider(refund.requested_by, by)
    changed = Refund.objects.filter(pk=refund.pk, status=RefundStatus.REQUESTED.value).update(
        status=to.value,
        decided_by=by,
        decided_at=timezone.now(),
        decision_note=note.strip()[:500],
        updated_at=timezone.now(),
        finished_at=timezone.now() if to is RefundStatus.REJECTED else None,
    )
    if changed != 1:
        raise RefundRuleBroken("This refund has already been approved or rejected")
    refund.refresh_from_db()
    return refund


def reject_refund(refund_reference: str, *, by: str, note: str) -> Refund:
    return _decide(refund_reference, by=by, note=note, to=RefundStatus.REJECTED)


def approve_refund(refund_reference: str, *, by: str, note: str, client: ports.PaymentProvider) -> Refund:
    """Approve (never one's own) and ask the provider at once. If the provider cannot be
    reached the refund stays approved and the re-checker asks again."""
    refund = _decide(refund_reference, by=by, note=note, to=RefundStatus.SUBMITTING)
    return submit_refund(refund, client)


def _adopt_from_provider(refund: Refund, client: ports.PaymentProvider) -> ports.ProviderRefund | None:
    """After an unknown outcome: the provider's list of the payment's refunds is current
    (not a delayed search), so a refund there for our amount that we do not know of is
    ours; none there means our request never took effect."""
    known = set(Refund.objects.exclude(provider_refund_id="").values_list("provider_refund_id", flat=True))
    for remote in client.list_refunds(refund.payment.provider_payment_id):
        if remote.refund_id not in known and remote.amount == refund.amount_pence:
            return remote
    return None


def submit_refund(refund: Refund, client: ports.PaymentProvider) -> Refund:
    """Ask the provider for an approved refund, exactly once."""
    payment = refund.payment
    try:
        remote = _adopt_from_provider(refund, client) if refund.submit_unknown else None
        if remote is None:
            Refund.objects.filter(pk=refund.pk).update(submit_unknown=True)  # from here on, we may not hear
            remote = _create_at_provider(refund, payment, client)
    except ports.ProviderRejected as exc:
        _finish(refund, RefundStatus.REFUSED, failure_reason=f"{exc.code or exc.http_status}: {exc.description}"[:300])
        log.warning("refund refused by the provider", extra={"refund_reference": refund.reference, "code": exc.code})
        refund.refresh_from_db()
        return refund
    except ports.ProviderUnreachable:
        Refund.objects.filter(pk=refund.pk).update(submit_unknown=False)  # nothing was sent
        log.warning("provider unreachable for a refund; will retry", extra={"refund_reference": refund.reference})
        return refund
    except ports.ProviderError as exc:
        log.warning(
            "refund outcome unknown; will check",
            extra={"refund_reference": refund.reference, "error": type(exc).__name__},
        )
        return refund
    Refund.objects.filter(pk=refund.pk, status=RefundStatus.SUBMITTING.value).update(
        status=RefundStatus.SUBMITTED.value,
        provider_refund_id=remote.refund_id,
        provider_status=remote.status,
        submitted_at=timezone.now(),
        submit_unknown=False,
        updated_at=timezone.now(),
    )
    refund.refresh_from_db()
    if remote.status == "submitted":
        # Providers usually settle a refund within moments: one read now saves waiting for a
        # webhook or the re-checker in the common case.
        try:
            remote = client.get_refund(payment.provider_payment_id, remote.refund_id)
        except ports.ProviderError:
            pass
    return settle_refund(refund, remote)


def _create_at_provider(refund: Refund, payment: Payment, client: ports.PaymentProvider) -> ports.ProviderRefund:
    # The provider's guard: we say how much we believe is available; a refund made meanwhile
    # (412) means we read again, once.
    for attempt in range(2):
        available = client.get_payment(payment.provider_payment_id).refund_amount_available
        try:
            return client.create_refund(payment.provider_payment_id, refund.amount_pence, available)
        except ports.RefundAmountMismatch:
            if attempt:
                raise
    raise AssertionError("unreachable")


def _finish(refund: Refund, status: RefundStatus, **fields: object) -> bool:
    now = timezone.now()
    return (
        Refund.objects.filter(
            pk=refund.pk, status__in=[RefundStatus.SUBMITTING.value, RefundStatus.SUBMITTED.value]
        ).update(status=status.value, finished_at=now, updated_at=now, submit_unknown=False, **fields)
        == 1
    )


def settle_refund(refund: Refund, remote: ports.ProviderRefund) -> Refund:
    """Bring our refund in line with the provider's. On success, in one transaction: the
    refund is final and ECS is told (or we record why not)."""
    if remote.status == "error":
        _finish(
            refund,
            RefundStatus.ERROR,
            provider_status="error",
            failure_reason="the provider could not make the refund; no money moved",
        )
    elif remote.status == "success":
        with transaction.atomic():
            locked = Refund.objects.select_for_update().get(pk=refund.pk)
            if _finish(locked, RefundStatus.SUCCESS, provider_status="success"):
                note = _tell_ecs(locked)
                Refund.objects.filter(pk=locked.pk).update(ecs_note=note)
                log.info("refund succeeded", extra={"refund_reference": locked.reference})
                transaction.on_commit(lambda: send_refund_email_once(locked.pk))
    refund.refresh_from_db()
    return refund


def _tell_ecs(refund: Refund) -> str:
    """A refund goes to ECS after its payment, in the case's order; but a payment ECS never
    recorded (stopped as an exception, or resolved without sending) has nothing to refund
    there. A full refund of a payment stopped as an exception resolves that exception."""
    payment = refund.payment
    paid_event = OutboxEvent.objects.filter(kind=OutboxEvent.KIND_PAYMENT, payment_reference=payment.reference).first()
    if paid_event is None or paid_event.status == OutboxEvent.RESOLVED:
        return "not sent: its payment never reached ECS"
    refunded = sum(
        Refund.objects.filter(payment=payment, status=RefundStatus.SUCCESS.value).values_list("amount_pence", flat=True)
    )
    if paid_event.status == OutboxEvent.EXCEPTION and refunded >= payment.amount_pence:
        resolve_exception(paid_event.pk, by=SYSTEM, note=f"refunded in full ({refund.reference})")
        return "not sent: its payment never reached ECS and is now refunded in full"
    enqueue_refund(
        case_reference=payment.case_reference,
        payment_reference=payment.reference,
        refund_reference=refund.reference,
        amount_pence=refund.amount_pence,
        refunded_at=refund.finished_at or timezone.now(),
        request_id=payment.request_id,
    )
    return "queued"


def follow_refunds(payment: Payment, client: ports.PaymentProvider) -> int:
    """Move this payment's unfinished approved refunds on (a webhook said something changed,
    or the re-checker found them waiting). A refund still being asked of the provider by the
    person who approved it is left to them: only one that has waited `RESUBMIT_AFTER` is
    taken over, by a compare-and-set on its `updated_at`, so two processes never both ask."""
    moved = 0
    for refund in Refund.objects.filter(
        payment=payment, status__in=[RefundStatus.SUBMITTING.value, RefundStatus.SUBMITTED.value]
    ).order_by("pk"):
        before = refund.status
        if refund.state is RefundStatus.SUBMITTING:
            now = timezone.now()
            if refund.updated_at > now - RESUBMIT_AFTER:
                continue
            claimed = Refund.objects.filter(
                pk=refund.pk, status=RefundStatus.SUBMITTING.value, updated_at=refund.updated_at
            ).update(updated_at=now)
            if claimed != 1:
                continue
            refund.refresh_from_db()
            refund = submit_refund(refund, client)
        else:
            refund = settle_refund(refund, client.get_refund(payment.provider_payment_id, refund.provider_refund_id))
        moved += refund.status != before
    return moved


def send_refund_email_once(refund_pk: int) -> bool:
    """Claim, then send; a failed send is released for the re-checker."""
    now = timezone.now()
    refund = Refund.objects.select_related("payment").get(pk=refund_pk)
    if not refund.payment.email or refund.state is not RefundStatus.SUCCESS:
        return False
    if Refund.objects.filter(pk=refund_pk, email_sent_at__isnull=True).update(email_sent_at=now) != 1:
        return False
    try:
        receipt_sender().send_refund_confirmation(refund)
    except Exception as exc:
        Refund.objects.filter(pk=refund_pk, email_sent_at=now).update(email_sent_at=None)
        log.warning(
            "refund email failed; will retry", extra={"refund_reference": refund.reference, "error": type(exc).__name__}
        )
        RECEIPTS.labels("refund", "failed").inc()
        return False
    RECEIPTS.labels("refund", "sent").inc()
    return True
