"""Settling a payment from the provider's state: the return page, the re-checker and
webhooks all call `settle_payment`, so one function decides what a provider state
means for us. A success writes the ECS outbox event in the same transaction."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from penaltypay.ecs.outbox import enqueue_payment
from penaltypay.payments import card_testing, ports
from penaltypay.payments.domain import (
    LIVE_STATUSES,
    IllegalTransition,
    PaymentStatus,
    check_transition,
    status_from_provider,
)
from penaltypay.payments.models import Payment, PaymentEvent, PaymentLine
from penaltypay.payments.receipts import send_receipt_once

log = logging.getLogger("penaltypay.payments")


def find_at_provider(payment: Payment, client: ports.PaymentProvider) -> ports.ProviderPayment | None:
    matches = [p for p in client.find_payments_by_reference(payment.reference) if p.reference == payment.reference]
    if not matches:
        return None
    found = matches[0]
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=found.payment_id)
    payment.provider_payment_id = found.payment_id
    # Search results can lag; the payment itself is the truth.
    return client.get_payment(found.payment_id)


def move(payment: Payment, target: PaymentStatus, source: str, **fields) -> bool:
    """Compare-and-set: apply `target` only if the row is still where we read it."""
    current = payment.state
    if not check_transition(current, target):
        return False
    now = timezone.now()
    updates = {"status": target.value, "updated_at": now, **fields}
    if target not in LIVE_STATUSES:
        updates.setdefault("finished_at", now)
    changed = Payment.objects.filter(pk=payment.pk, status=current.value).update(**updates)
    if changed != 1:
        raise ConcurrentUpdate(payment.reference)
    if target not in LIVE_STATUSES:
        PaymentLine.objects.filter(payment=payment, live=True).update(live=False)  # its penalties are free again
    PaymentEvent.objects.create(payment=payment, from_status=current.value, to_status=target.value, source=source)
    for key, value in updates.items():
        setattr(payment, key, value)
    return True


class ConcurrentUpdate(Exception):
    """Another process moved this payment first; re-read and decide again."""


def settle_payment(payment: Payment, remote: ports.ProviderPayment, *, source: str) -> Payment:
    """Bring our payment in line with the provider's state. Safe to call any number
    of times, from any process: a repeat changes nothing, a finished payment never
    changes again, and the receipt goes once."""
    target = status_from_provider(remote.status)
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        fields: dict[str, object] = {"provider_status": remote.status}
        if not locked.provider_payment_id:
            fields["provider_payment_id"] = remote.payment_id
        if target is PaymentStatus.SUCCESS:
            fields.update(
                psp_reference=remote.provider_id or "",
                card_brand=remote.card_brand or "",
                wallet_type=remote.wallet_type or "",
                card_last_four=remote.card_last_four or "",
                authorised_at=remote.authorised_at or timezone.now(),
            )
        elif target in (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.ERROR):
            fields["failure_code"] = remote.failure_code or ""
        if target in (PaymentStatus.SUCCESS, PaymentStatus.FAILED):
            fields["three_d_secure_required"] = remote.three_d_secure_required
        try:
            moved = move(locked, target, source, **fields)
        except IllegalTransition as exc:
            # A finished payment reported in another state: never applied, always shouted about.
            log.error(
                "provider state contradicts a finished payment",
                extra={"payment_reference": locked.reference, "ours": locked.status, "provider": remote.status},
            )
            raise exc
        if target is PaymentStatus.SUCCESS:
            note_settlement(locked, remote)
        if not moved and locked.provider_status != remote.status:
            Payment.objects.filter(pk=locked.pk).update(provider_status=remote.status)
            locked.provider_status = remote.status
        if moved and target is PaymentStatus.SUCCESS:
            # Same transaction as the success: ECS will be told exactly once (docs/ecs-delivery.md),
            # each penalty paid on its own case, with its own amount and the one payment reference.
            for line in locked.lines.all():
                enqueue_payment(
                    case_reference=line.case_reference,
                    payment_reference=locked.reference,
                    amount_pence=line.amount_pence,
                    paid_at=locked.authorised_at or locked.finished_at or timezone.now(),
                    channel=locked.channel,
                    psp_reference=locked.psp_reference,
                    request_id=locked.request_id,
                )
            log.info("payment succeeded", extra={"payment_reference": locked.reference, "source": source})
            transaction.on_commit(lambda: send_receipt_once(locked.pk))
        if moved and target is PaymentStatus.FAILED and fields["failure_code"] == card_testing.DECLINED:
            cases = list(locked.lines.values_list("case_reference", flat=True))
            # Counted against every penalty the card was tried on (a basket's too), and the
            # payer's address online or the agent who keyed it by phone.
            if locked.channel == Payment.CHANNEL_PHONE:
                agent = locked.created_by
                transaction.on_commit(lambda: card_testing.note_declines(cases, "", agent=agent))
            else:
                address = locked.payer_address_hash
                transaction.on_commit(lambda: card_testing.note_declines(cases, address))
    payment.refresh_from_db()
    return payment


def note_settlement(payment: Payment, remote: ports.ProviderPayment) -> None:
    """Keep the provider's fee, net amount and settled date with a taken payment (they come
    later than the money: the settled date on the day of the payout)."""
    fields = {
        name: value
        for name, value in (
            ("fee_pence", remote.fee),
            ("net_pence", remote.net_amount),
            ("settled_date", remote.settled_date),
        )
        if value is not None and getattr(payment, name) != value
    }
    if fields:
        Payment.objects.filter(pk=payment.pk).update(**fields)
        for name, value in fields.items():
            setattr(payment, name, value)


def refresh_payment(payment: Payment, client: ports.PaymentProvider, *, source: str) -> Payment:
    """Read the provider's state and settle. The return page never trusts the redirect."""
    if payment.state is PaymentStatus.CREATE_UNKNOWN:
        found = find_at_provider(payment, client)
        return settle_payment(payment, found, source=source) if found else payment
    if not payment.provider_payment_id:
        return payment
    return settle_payment(payment, client.get_payment(payment.provider_payment_id), source=source)
