"""A refund at the provider: asked for exactly once, by whoever holds its lease (the
approver, or the re-checker once the approver's lease has run out), and followed to its
end. On success, in one transaction, the refund is final and ECS is told (or we record
why not). docs/adr/0012 (refunds), 0018 (leases, no adoption by amount)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from penaltypay.ecs.deliveries import DeliveryStatus, delivery_of_payment
from penaltypay.ecs.outbox import enqueue_refund, resolve_exception
from penaltypay.payments import ports
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.receipts import send_refund_email_once
from penaltypay.payments.refund_moves import move_refund
from penaltypay.payments.refund_rules import PAID_BACK, RefundStatus

log = logging.getLogger("penaltypay.payments")
SYSTEM = "penaltypay"


def lease_length() -> timedelta:
    """Long enough for the holder's own calls to end (two reads and a create, with the one
    re-read a 412 allows), so that nobody else asks meanwhile."""
    return timedelta(seconds=3 * settings.PAY_TIMEOUT + 15)


def new_lease_owner() -> str:
    return uuid.uuid4().hex


def _release(refund: Refund, owner: str, *, after: timedelta = timedelta(0), **fields: object) -> None:
    """Let go of the lease; nobody takes it over before `after` has passed."""
    Refund.objects.filter(pk=refund.pk, lease_owner=owner).update(
        lease_owner="", lease_until=timezone.now() + after, updated_at=timezone.now(), **fields
    )


def unrecorded_at_provider(refund: Refund, client: ports.PaymentProvider) -> list[ports.ProviderRefund]:
    """The payment's refunds at the provider that no refund of ours records. The provider's
    refunds carry no reference of ours, so one of these may be ours or may have been made
    by hand in its console: never decided by its amount."""
    known = set(Refund.objects.exclude(provider_refund_id="").values_list("provider_refund_id", flat=True))
    return [r for r in client.list_refunds(refund.payment.provider_payment_id) if r.refund_id not in known]


def submit_refund(refund: Refund, client: ports.PaymentProvider, owner: str) -> Refund:
    """Ask the provider for a refund whose lease `owner` holds, exactly once."""
    payment = refund.payment
    try:
        if refund.submit_unknown:
            # The last ask may have taken effect. Nothing unrecorded there: it did not, ask
            # again. Something unrecorded there: a person must say whether it is ours.
            unrecorded = unrecorded_at_provider(refund, client)
            if unrecorded:
                ids = ", ".join(r.refund_id for r in unrecorded)
                move_refund(
                    refund,
                    RefundStatus.UNKNOWN,
                    source="recheck",
                    note=f"the provider holds refunds we did not record: {ids}",
                    held_by=owner,
                    lease_owner="",
                    lease_until=None,
                    failure_reason=f"outcome unknown; the provider holds refunds we did not record: {ids}"[:300],
                )
                refund.refresh_from_db()
                return refund
        if Refund.objects.filter(pk=refund.pk, lease_owner=owner).update(submit_unknown=True) != 1:
            return refund  # our lease was taken over: the new holder asks
        remote = _create_at_provider(refund, payment, client, owner)
    except ports.ProviderRejected as exc:
        move_refund(
            refund,
            RefundStatus.REFUSED,
            source="provider",
            held_by=owner,
            failure_reason=f"{exc.code or exc.http_status}: {exc.description}"[:300],
            submit_unknown=False,
        )
        log.warning("refund refused by the provider", extra={"refund_reference": refund.reference, "code": exc.code})
        refund.refresh_from_db()
        return refund
    except ports.ProviderUnreachable:
        _release(refund, owner, after=timedelta(seconds=30), submit_unknown=False)  # nothing was sent
        log.warning("provider unreachable for a refund; will retry", extra={"refund_reference": refund.reference})
        refund.refresh_from_db()
        return refund
    except ports.ProviderError as exc:
        # It may have been made: look only once a late create would be visible.
        _release(refund, owner, after=lease_length())
        log.warning(
            "refund outcome unknown; will check",
            extra={"refund_reference": refund.reference, "error": type(exc).__name__},
        )
        refund.refresh_from_db()
        return refund
    moved = move_refund(
        refund,
        RefundStatus.SUBMITTED,
        source="provider",
        held_by=owner,
        provider_refund_id=remote.refund_id,
        provider_status=remote.status,
        submitted_at=timezone.now(),
        submit_unknown=False,
        lease_owner="",
        lease_until=None,
    )
    if not moved:
        refund.refresh_from_db()
        return refund
    if remote.status == "submitted":
        # Providers usually settle a refund within moments: one read now saves waiting for a
        # webhook or the re-checker in the common case.
        try:
            remote = client.get_refund(payment.provider_payment_id, remote.refund_id)
        except ports.ProviderError:
            pass
    return settle_refund(refund, remote)


def _create_at_provider(
    refund: Refund, payment: Payment, client: ports.PaymentProvider, owner: str
) -> ports.ProviderRefund:
    # The provider's guard: we say how much we believe is available; a refund made meanwhile
    # (412) means we read again, once — but only when that refund cannot be this one. If our
    # lease ran out while we waited (an approver stalled), whoever took it over may have made
    # this very refund: asking again would pay the keeper twice. Then the outcome is left
    # unknown, and the re-checker (or a person) looks at the provider's refunds first.
    for attempt in range(2):
        available = client.get_payment(payment.provider_payment_id).refund_amount_available
        try:
            return client.create_refund(payment.provider_payment_id, refund.amount_pence, available)
        except ports.RefundAmountMismatch:
            if attempt:
                raise
            if not Refund.objects.filter(pk=refund.pk, lease_owner=owner).exists() or unrecorded_at_provider(
                refund, client
            ):
                raise ports.ProviderOutcomeUnknown(
                    "a refund of this payment was made meanwhile, and it may be this one"
                ) from None
    raise AssertionError("unreachable")


def settle_refund(refund: Refund, remote: ports.ProviderRefund, *, source: str = "provider") -> Refund:
    """Bring our submitted refund in line with the provider's. On success, in one transaction:
    the refund is final and ECS is told (or we record why not)."""
    if remote.status == "error":
        move_refund(
            refund,
            RefundStatus.ERROR,
            source=source,
            provider_status="error",
            failure_reason="the provider could not make the refund; no money moved",
        )
    elif remote.status == "success":
        with transaction.atomic():
            locked = Refund.objects.select_for_update().get(pk=refund.pk)
            if move_refund(locked, RefundStatus.SUCCESS, source=source, provider_status="success"):
                note = tell_ecs(locked)
                Refund.objects.filter(pk=locked.pk).update(ecs_note=note)
                log.info("refund succeeded", extra={"refund_reference": locked.reference})
                transaction.on_commit(lambda: send_refund_email_once(locked.pk))
    refund.refresh_from_db()
    return refund


def tell_ecs(refund: Refund) -> str:
    """A refund goes to ECS after its payment, on its penalty's case, in the case's order; but
    a payment line ECS never recorded (stopped as an exception, or resolved without sending)
    has nothing to refund there. A full refund of a line stopped as an exception resolves
    that exception."""
    payment = refund.payment
    case_reference = refund.case_reference or payment.first_case_reference
    paid_event = delivery_of_payment(payment.reference, case_reference)
    if paid_event.status in (DeliveryStatus.NOT_QUEUED, DeliveryStatus.RESOLVED):
        return "not sent: its payment never reached ECS"
    refunded = sum(
        Refund.objects.filter(
            payment=payment, case_reference=case_reference, status__in=[s.value for s in PAID_BACK]
        ).values_list("amount_pence", flat=True)
    )
    if paid_event.status is DeliveryStatus.EXCEPTION and refunded >= paid_event.amount_pence:
        resolve_exception(paid_event.id, by=SYSTEM, note=f"refunded in full ({refund.reference})")
        return "not sent: its payment never reached ECS and is now refunded in full"
    enqueue_refund(
        case_reference=case_reference,
        payment_reference=payment.reference,
        refund_reference=refund.reference,
        amount_pence=refund.amount_pence,
        refunded_at=refund.finished_at or timezone.now(),
        request_id=payment.request_id,
    )
    return "queued"
