"""Taking a payment and settling it from the provider's state.

The return page, the background re-checker and webhooks all call
`settle_payment`: one function decides what a provider state means for us.
See docs/adr/0003-payment-creation.md for why creation works the way it does.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from penaltypay.cases.domain import CASE_TYPE_NAMES, Case
from penaltypay.ecs.outbox import enqueue_payment
from penaltypay.payments import provider as pay
from penaltypay.payments.domain import (
    LIVE_STATUSES,
    IllegalTransition,
    PaymentStatus,
    check_transition,
    new_payment_reference,
    status_from_provider,
)
from penaltypay.payments.models import Payment, PaymentEvent

log = logging.getLogger(__name__)

# How long a second request waits for a concurrent create (double click) to finish.
CONCURRENT_CREATE_WAIT_SECONDS = 15.0
# An unknown create that the provider's search has not shown after this long is abandoned
# by the re-checker (the payer never got its card-page link, so nobody can pay on it).
ABANDON_UNKNOWN_AFTER = timedelta(minutes=10)
# Abandoned creates are still searched for this long, and cancelled if they turn up.
WATCH_ABANDONED_FOR = timedelta(hours=3)


class PaymentUnavailable(Exception):
    """The provider could not take the payment now; the keeper can try again later.
    Nothing was taken, and nothing live is left behind that could be."""


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    next_url: str | None  # the provider's card page; None when the payment already finished


def pending_paid_pence(case_reference: str) -> int:
    """Money we have taken for a case that ECS's ledger does not show yet."""
    total = Payment.objects.filter(
        case_reference=case_reference, status=PaymentStatus.SUCCESS.value, ecs_recorded_at__isnull=True
    ).aggregate(total=Sum("amount_pence"))["total"]
    return int(total or 0)


def payment_description(case: Case) -> str:
    name = CASE_TYPE_NAMES.get(case.case_type, "penalty")
    return f"{name[0].upper()}{name[1:]} {case.reference} ({case.vrm})"


def start_payment(
    case: Case,
    *,
    amount_pence: int,
    email: str,
    language: str,
    return_url_for: Callable[[Payment], str],
    client: pay.PayClient,
    channel: str = Payment.CHANNEL_ONLINE,
) -> PaymentStart:
    """Send the keeper to a card page for `amount_pence`, never leaving two live payments.

    A live payment for the case is resumed (fresh card-page link) when it is for the
    same amount, and cancelled otherwise. The payment row is written before the
    provider is called, so whatever happens next is on record.
    """
    for _ in range(3):
        live = Payment.objects.filter(
            case_reference=case.reference, status__in=[s.value for s in LIVE_STATUSES]
        ).first()
        if live is not None:
            resumed = _resume_or_close(live, amount_pence, client)
            if resumed is not None:
                return resumed
            continue
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    reference=new_payment_reference(),
                    case_reference=case.reference,
                    case_type=case.case_type,
                    amount_pence=amount_pence,
                    description=payment_description(case),
                    email=email or "",
                    language=language if language in ("en", "cy") else "en",
                    channel=channel,
                )
        except IntegrityError:
            continue  # a concurrent request made the live payment first: resume that one
        return _create_at_provider(payment, return_url_for(payment), client)
    raise PaymentUnavailable("could not settle the live payment for this case")


def _create_at_provider(payment: Payment, return_url: str, client: pay.PayClient) -> PaymentStart:
    try:
        created = client.create_payment(
            amount=payment.amount_pence,
            reference=payment.reference,
            description=payment.description,
            return_url=return_url,
            language=payment.language,
            email=payment.email or None,
            moto=payment.channel == Payment.CHANNEL_PHONE,
            metadata={"case_reference": payment.case_reference, "case_type": payment.case_type},
        )
    except pay.ProviderOutcomeUnknown:
        # It may exist at the provider. Keep it live so the next attempt searches for it.
        _move(payment, PaymentStatus.CREATE_UNKNOWN, "create")
        log.warning("payment create outcome unknown", extra={"payment_reference": payment.reference})
        raise PaymentUnavailable("payment provider did not answer") from None
    except pay.ProviderError as exc:
        _move(payment, PaymentStatus.CREATE_FAILED, "create")
        log.error(
            "payment create refused", extra={"payment_reference": payment.reference, "error": type(exc).__name__}
        )
        raise PaymentUnavailable("payment provider refused the payment") from exc
    payment = settle_payment(payment, created, source="create")
    return PaymentStart(payment, created.next_url if not created.finished else None)


def _wait_for_concurrent_create(payment: Payment) -> Payment:
    deadline = time.monotonic() + CONCURRENT_CREATE_WAIT_SECONDS
    while time.monotonic() < deadline:
        payment.refresh_from_db()
        if payment.state is not PaymentStatus.NEW:
            return payment
        time.sleep(0.2)
    return payment


def _resume_or_close(live: Payment, amount_pence: int, client: pay.PayClient) -> PaymentStart | None:
    """Continue a live payment, or close it; None means 'closed, make a new one'."""
    if live.state is PaymentStatus.NEW:
        live = _wait_for_concurrent_create(live)
        if live.state is PaymentStatus.NEW:
            raise PaymentUnavailable("another request for this penalty is still creating its payment")
        if not live.is_live:
            return None if live.state is not PaymentStatus.SUCCESS else PaymentStart(live, None)
    if live.state is PaymentStatus.CREATE_UNKNOWN:
        found = _find_at_provider(live, client)
        if found is None:
            # The keeper never received that payment's card-page link, so nobody can pay it.
            _move(live, PaymentStatus.ABANDONED, "resume")
            return None
        live = settle_payment(live, found, source="resume")
        if not live.is_live:
            return PaymentStart(live, None) if live.state is PaymentStatus.SUCCESS else None
    current = client.get_payment(live.provider_payment_id)
    live = settle_payment(live, current, source="resume")
    if live.state is PaymentStatus.SUCCESS:
        return PaymentStart(live, None)
    if not live.is_live:
        return None
    if live.amount_pence == amount_pence and current.next_url:
        return PaymentStart(live, current.next_url)
    # The amount due has changed (a reduction deadline passed): replace the payment.
    try:
        client.cancel_payment(live.provider_payment_id)
    except pay.ProviderRejected:
        pass  # it finished meanwhile; the read below tells us how
    settle_payment(live, client.get_payment(live.provider_payment_id), source="resume")
    live.refresh_from_db()
    return PaymentStart(live, None) if live.state is PaymentStatus.SUCCESS else None


def _find_at_provider(payment: Payment, client: pay.PayClient) -> pay.ProviderPayment | None:
    matches = [p for p in client.find_payments_by_reference(payment.reference) if p.reference == payment.reference]
    if not matches:
        return None
    found = matches[0]
    Payment.objects.filter(pk=payment.pk).update(provider_payment_id=found.payment_id)
    payment.provider_payment_id = found.payment_id
    # Search results can lag; the payment itself is the truth.
    return client.get_payment(found.payment_id)


def _move(payment: Payment, target: PaymentStatus, source: str, **fields) -> bool:
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
    PaymentEvent.objects.create(payment=payment, from_status=current.value, to_status=target.value, source=source)
    for key, value in updates.items():
        setattr(payment, key, value)
    return True


class ConcurrentUpdate(Exception):
    """Another process moved this payment first; re-read and decide again."""


def settle_payment(payment: Payment, remote: pay.ProviderPayment, *, source: str) -> Payment:
    """Bring our payment in line with the provider's state. Safe to call any number
    of times, from any process: a repeat changes nothing, a finished payment never
    changes again, and the receipt goes once."""
    target = status_from_provider(remote.status)
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        fields = {"provider_status": remote.status}
        if not locked.provider_payment_id:
            fields["provider_payment_id"] = remote.payment_id
        if target is PaymentStatus.SUCCESS:
            fields.update(
                psp_reference=remote.provider_id or "",
                card_brand=remote.card_brand or "",
                card_last_four=remote.card_last_four or "",
                authorised_at=remote.authorised_at or timezone.now(),
            )
        elif target in (PaymentStatus.FAILED, PaymentStatus.CANCELLED, PaymentStatus.ERROR):
            fields["failure_code"] = remote.failure_code or ""
        try:
            moved = _move(locked, target, source, **fields)
        except IllegalTransition as exc:
            # A finished payment reported in another state: never applied, always shouted about.
            log.error(
                "provider state contradicts a finished payment",
                extra={"payment_reference": locked.reference, "ours": locked.status, "provider": remote.status},
            )
            raise exc
        if not moved and locked.provider_status != remote.status:
            Payment.objects.filter(pk=locked.pk).update(provider_status=remote.status)
            locked.provider_status = remote.status
        if moved and target is PaymentStatus.SUCCESS:
            # Same transaction as the success: ECS will be told exactly once (docs/ecs-delivery.md).
            enqueue_payment(
                case_reference=locked.case_reference, payment_reference=locked.reference,
                amount_pence=locked.amount_pence, paid_at=locked.authorised_at, channel=locked.channel,
                psp_reference=locked.psp_reference,
            )
            log.info("payment succeeded", extra={"payment_reference": locked.reference, "source": source})
            transaction.on_commit(lambda: send_receipt_once(locked.pk))
    payment.refresh_from_db()
    return payment


def send_receipt_once(payment_pk) -> bool:
    """Claim the receipt, then send it; a failed send is released so the re-checker retries."""
    from penaltypay.notifications.receipts import send_payment_receipt

    now = timezone.now()
    payment = Payment.objects.get(pk=payment_pk)
    if not payment.email or payment.state is not PaymentStatus.SUCCESS:
        return False
    if Payment.objects.filter(pk=payment_pk, receipt_sent_at__isnull=True).update(receipt_sent_at=now) != 1:
        return False
    try:
        send_payment_receipt(payment)
    except Exception:
        Payment.objects.filter(pk=payment_pk, receipt_sent_at=now).update(receipt_sent_at=None)
        log.exception("receipt email failed; will retry", extra={"payment_reference": payment.reference})
        return False
    return True


def refresh_payment(payment: Payment, client: pay.PayClient, *, source: str) -> Payment:
    """Read the provider's state and settle. The return page never trusts the redirect."""
    if payment.state is PaymentStatus.CREATE_UNKNOWN:
        found = _find_at_provider(payment, client)
        return settle_payment(payment, found, source=source) if found else payment
    if not payment.provider_payment_id:
        return payment
    return settle_payment(payment, client.get_payment(payment.provider_payment_id), source=source)


@dataclass
class RecheckReport:
    checked: int = 0
    settled: int = 0
    abandoned: int = 0
    cancelled: int = 0
    failed: int = 0
    receipts_sent: int = 0


def recheck_payments(client: pay.PayClient, *, older_than: timedelta, now: datetime | None = None) -> RecheckReport:
    """The background re-checker: settle every payment still in progress, resolve
    unknown creates, cancel abandoned ones that turn up, and resend failed receipts.
    One failing item never stops the rest."""
    now = now or timezone.now()
    report = RecheckReport()
    stale = now - older_than
    candidates = Payment.objects.filter(
        status__in=[PaymentStatus.IN_PROGRESS.value, PaymentStatus.CREATE_UNKNOWN.value, PaymentStatus.NEW.value],
        updated_at__lte=stale,
    ).order_by("created_at")
    for payment in candidates.iterator():
        report.checked += 1
        try:
            before = payment.status
            if payment.state is PaymentStatus.NEW:
                # A process died between writing the row and hearing from the provider.
                _move(payment, PaymentStatus.CREATE_UNKNOWN, "recheck")
            payment = refresh_payment(payment, client, source="recheck")
            if payment.state is PaymentStatus.CREATE_UNKNOWN and payment.created_at <= now - ABANDON_UNKNOWN_AFTER:
                _move(payment, PaymentStatus.ABANDONED, "recheck")
                report.abandoned += 1
            elif payment.status != before:
                report.settled += 1
        except Exception:
            report.failed += 1
            log.exception("re-check failed for one payment", extra={"payment_reference": payment.reference})
    for payment in Payment.objects.filter(
        status=PaymentStatus.ABANDONED.value, created_at__gte=now - WATCH_ABANDONED_FOR
    ).iterator():
        try:
            found = _find_at_provider(payment, client)
            if found is None:
                continue
            if not found.finished:
                client.cancel_payment(found.payment_id)
                report.cancelled += 1
            elif found.status == "success":
                settle_payment(payment, found, source="recheck")
                report.settled += 1
        except Exception:
            report.failed += 1
            log.exception("could not check an abandoned payment", extra={"payment_reference": payment.reference})
    for payment in Payment.objects.filter(
        status=PaymentStatus.SUCCESS.value, receipt_sent_at__isnull=True
    ).exclude(email=""):
        if send_receipt_once(payment.pk):
            report.receipts_sent += 1
    return report
