"""Refunds: asked for by one finance user, approved by another, asked of the provider
(penaltypay.payments.refund_provider), followed to success or error (webhooks and the
re-checker, as for payments), and — on success — put in the ECS outbox in the same
transaction, unless its payment never reached ECS. The keeper is emailed once. Every move
follows the transition table and is kept in the refund's history.
docs/adr/0012-refunds-exceptions-phone.md, 0018."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from penaltypay.payments import ports
from penaltypay.payments.disputes import lost_amount_by_payment, open_dispute
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.held import share_out
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.refund_moves import move_refund, record_request
from penaltypay.payments.refund_provider import (
    lease_length,
    new_lease_owner,
    settle_refund,
    submit_refund,
    unrecorded_at_provider,
)
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


def refundable_by_line(payment: Payment) -> dict[str, int]:
    """What may still be refunded on each penalty the payment paid: its line, less refunds
    on it that hold money, less its share of what a lost dispute took back."""
    lines = list(payment.lines.values_list("case_reference", "amount_pence"))
    refunds = Refund.objects.filter(payment=payment).values_list("case_reference", "amount_pence", "status")
    taken_back = share_out(lost_amount_by_payment([payment.pk]).get(payment.pk, 0), [a for _, a in lines])
    return {
        case: max(
            0,
            refundable_pence(amount, [(a, RefundStatus(status)) for c, a, status in refunds if c == case]) - lost,
        )
        for (case, amount), lost in zip(lines, taken_back, strict=True)
    }


def remaining_refundable(payment: Payment, case_reference: str = "") -> int:
    """What may still be refunded: on one penalty's line, or on the whole payment."""
    by_line = refundable_by_line(payment)
    return by_line.get(case_reference, 0) if case_reference else sum(by_line.values())


def request_refund(
    payment_reference: str, amount_pence: int, reason: str, detail: str, *, by: str, case_reference: str = ""
) -> Refund:
    """A refund waiting for a second person, for one penalty the payment paid (a payment for
    several must say which). The payment row is locked while the remaining amount is
    worked out, so two requests at once can never promise more than was paid."""
    if reason not in REASONS:
        raise RefundRuleBroken("Choose a reason for the refund")
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(reference=payment_reference)
        if payment.state is not PaymentStatus.SUCCESS:
            raise RefundRuleBroken("Only a successful payment can be refunded")
        if open_dispute(payment) is not None:
            raise RefundRuleBroken(
                "The payer's bank is disputing this payment: it cannot be refunded until the dispute is decided"
            )
        cases = list(payment.lines.values_list("case_reference", flat=True))
        if not case_reference and len(cases) == 1:
            case_reference = cases[0]
        if case_reference not in cases:
            raise RefundRuleBroken("Choose which penalty the refund is for")
        check_request(amount_pence, remaining_refundable(payment, case_reference))
        refund = Refund.objects.create(
            reference=new_refund_reference(),
            payment=payment,
            case_reference=case_reference,
            amount_pence=amount_pence,
            reason=reason,
            reason_detail=detail.strip()[:500],
            requested_by=by,
        )
        record_request(refund, by)
        return refund


def _decide(refund_reference: str, *, by: str, note: str, to: RefundStatus, **fields: Any) -> Refund:
    refund = Refund.objects.get(reference=refund_reference)
    check_decider(refund.requested_by, by)
    if refund.state is not RefundStatus.REQUESTED or not move_refund(
        refund,
        to,
        source="decision",
        by=by,
        note=note,
        decided_by=by,
        decided_at=timezone.now(),
        decision_note=note.strip()[:500],
        **fields,
    ):
        raise RefundRuleBroken("This refund has already been approved or rejected")
    refund.refresh_from_db()
    return refund


def reject_refund(refund_reference: str, *, by: str, note: str) -> Refund:
    return _decide(refund_reference, by=by, note=note, to=RefundStatus.REJECTED)


def approve_refund(refund_reference: str, *, by: str, note: str, client: ports.PaymentProvider) -> Refund:
    """Approve (never one's own) and ask the provider at once, holding the refund's lease
    while asking. If the provider cannot be reached the refund stays approved and the
    re-checker asks again once the lease has run out."""
    owner = new_lease_owner()
    refund = _decide(
        refund_reference,
        by=by,
        note=note,
        to=RefundStatus.SUBMITTING,
        lease_owner=owner,
        lease_until=timezone.now() + lease_length(),
    )
    return submit_refund(refund, client, owner)


def _take_lease(refund: Refund) -> str | None:
    """The lease of an approved refund nobody is asking about (compare-and-set)."""
    now, owner = timezone.now(), new_lease_owner()
    taken = Refund.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=refund.pk, status=RefundStatus.SUBMITTING.value
    ).update(lease_owner=owner, lease_until=now + lease_length())
    return owner if taken == 1 else None


def follow_refunds(payment: Payment, client: ports.PaymentProvider, *, source: str = "recheck") -> int:
    """Move this payment's unfinished approved refunds on (a webhook said something changed,
    or the re-checker found them waiting). One still being asked of the provider by the
    person who approved it is theirs until its lease runs out; then it is taken over, so two
    processes never ask at once."""
    moved = 0
    for refund in Refund.objects.filter(
        payment=payment, status__in=[RefundStatus.SUBMITTING.value, RefundStatus.SUBMITTED.value]
    ).order_by("pk"):
        before = refund.status
        if refund.state is RefundStatus.SUBMITTING:
            owner = _take_lease(refund)
            if owner is None:
                continue
            refund.refresh_from_db()
            refund = submit_refund(refund, client, owner)
        else:
            remote = client.get_refund(payment.provider_payment_id, refund.provider_refund_id)
            refund = settle_refund(refund, remote, source=source)
        moved += refund.status != before
    return moved


# --- a person settles a refund whose outcome is unknown ---------------------------------------


def adopt_provider_refund(
    refund_reference: str, provider_refund_id: str, *, by: str, note: str, client: ports.PaymentProvider
) -> Refund:
    """The person checked the provider's console: that refund there is this one."""
    refund = Refund.objects.select_related("payment").get(reference=refund_reference)
    if refund.state is not RefundStatus.UNKNOWN:
        raise RefundRuleBroken("This refund's outcome is no longer unknown")
    candidates = {r.refund_id: r for r in unrecorded_at_provider(refund, client)}
    if provider_refund_id not in candidates:
        raise RefundRuleBroken("That is not a refund of this payment the service has not recorded")
    if not move_refund(
        refund,
        RefundStatus.SUBMITTED,
        source="person",
        by=by,
        note=note,
        provider_refund_id=provider_refund_id,
        provider_status=candidates[provider_refund_id].status,
        submitted_at=timezone.now(),
        submit_unknown=False,
        failure_reason="",
    ):
        raise RefundRuleBroken("Someone else has dealt with this refund")
    return settle_refund(refund, client.get_refund(refund.payment.provider_payment_id, provider_refund_id))


def ask_provider_again(refund_reference: str, *, by: str, note: str, client: ports.PaymentProvider) -> Refund:
    """The person checked: none of the provider's unrecorded refunds is this one. Ask again."""
    refund = Refund.objects.get(reference=refund_reference)
    owner = new_lease_owner()
    if refund.state is not RefundStatus.UNKNOWN or not move_refund(
        refund,
        RefundStatus.SUBMITTING,
        source="person",
        by=by,
        note=note,
        submit_unknown=False,
        failure_reason="",
        lease_owner=owner,
        lease_until=timezone.now() + lease_length(),
    ):
        raise RefundRuleBroken("Someone else has dealt with this refund")
    return submit_refund(refund, client, owner)


def resolve_failed_refund(refund_reference: str, *, by: str, note: str) -> Refund | None:
    """A person has dealt with a refund that failed (paid another way, say): it leaves the
    exceptions queue. None when it is not a failure waiting for a person."""
    done = Refund.objects.filter(
        reference=refund_reference,
        status__in=[RefundStatus.ERROR.value, RefundStatus.REFUSED.value],
        resolved_at__isnull=True,
    ).update(resolved_by=by, resolved_at=timezone.now(), resolution_note=note.strip()[:500])
    return Refund.objects.get(reference=refund_reference) if done == 1 else None
