"""A refund the provider could not make (status `error`: the card was closed, say) paid
another way: one finance user records how (bank transfer or cheque) and its reference; a
second approves, and only then is the refund paid and ECS told, exactly once, through the
outbox. A rejection returns it to the exceptions queue as it was (docs/adr/0022)."""

from __future__ import annotations

import re

from django.db import transaction

from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.refund_moves import move_refund
from penaltypay.payments.refund_provider import tell_ecs
from penaltypay.payments.refund_rules import OFFLINE_METHODS, RefundRuleBroken, RefundStatus, check_decider
from penaltypay.payments.refunds import remaining_refundable

_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./\-]{0,99}")


def record_paid_another_way(refund_reference: str, *, method: str, reference: str, by: str, note: str) -> Refund:
    if method not in OFFLINE_METHODS:
        raise RefundRuleBroken("Choose how the refund was paid: bank transfer or cheque")
    reference = reference.strip()
    if not _REFERENCE.fullmatch(reference):
        raise RefundRuleBroken(
            "Enter the transfer's or cheque's reference: up to 100 letters, numbers, spaces, dots, dashes or slashes"
        )
    with transaction.atomic():
        refund = Refund.objects.select_related("payment").get(reference=refund_reference)
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)  # no refund promised twice
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.state is not RefundStatus.ERROR or refund.resolved_at is not None:
            raise RefundRuleBroken("Only a refund the provider could not make can be paid another way")
        if refund.amount_pence > remaining_refundable(payment, refund.case_reference):
            raise RefundRuleBroken("More has been refunded since: this refund can no longer be paid in full")
        moved = move_refund(
            refund,
            RefundStatus.OFFLINE_REQUESTED,
            source="person",
            by=by,
            note=f"{OFFLINE_METHODS[method]} {reference}: {note.strip()}",
            offline_method=method,
            offline_reference=reference,
            offline_by=by,
        )
        if not moved:
            raise RefundRuleBroken("Someone else has dealt with this refund")
    return refund


def decide_paid_another_way(refund_reference: str, *, approve: bool, by: str, note: str) -> Refund:
    with transaction.atomic():
        refund = Refund.objects.select_for_update().select_related("payment").get(reference=refund_reference)
        if refund.state is not RefundStatus.OFFLINE_REQUESTED:
            raise RefundRuleBroken("This refund is not waiting for approval of a payment made another way")
        check_decider(refund.offline_by, by)
        if not approve:
            move_refund(
                refund, RefundStatus.ERROR, source="decision", by=by, note=f"not paid another way: {note.strip()}"
            )
            return refund
        move_refund(refund, RefundStatus.PAID_OFFLINE, source="decision", by=by, note=note.strip())
        Refund.objects.filter(pk=refund.pk).update(ecs_note=tell_ecs(refund))
    refund.refresh_from_db()
    return refund
