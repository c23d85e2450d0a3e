"""Taking a payment, mechanically: write the row, create it at the provider, or resume or
close the live one — never leaving two live payments for one penalty (docs/adr/0003).
Only the checkout (penaltypay.payments.checkout) calls it: it decides the amount and who
may resume what."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from penaltypay.cases.domain import CASE_TYPE_NAMES, Case
from penaltypay.kernel import request_id
from penaltypay.payments import ports
from penaltypay.payments.domain import (
    LIVE_STATUSES,
    PaymentStatus,
    new_payment_reference,
)
from penaltypay.payments.models import Payment
from penaltypay.payments.settlement import find_at_provider, move, settle_payment

log = logging.getLogger("penaltypay.payments")

# How long a second request waits for a concurrent create (double click) to finish.
CONCURRENT_CREATE_WAIT_SECONDS = 15.0


class PaymentUnavailable(Exception):
    """The provider could not take the payment now; the keeper can try again later.
    Nothing was taken, and nothing live is left behind that could be."""


class PaymentBusy(PaymentUnavailable):
    """This process is at its limit of provider calls: try again in a minute."""


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    next_url: str | None  # the provider's card page; None when the payment already finished
    resumed: bool = False


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
    client: ports.PaymentProvider,
    channel: str,
    created_by: str,
    owner: str,
    payer_address_hash: str = "",
    link_sent_by: str = "",
) -> PaymentStart | None:
    """A card page for `amount_pence`, never leaving two live payments.

    The owner's own live payment for the case is resumed (fresh card-page link) when it is
    for the same amount, and cancelled otherwise. The payment row is written before the
    provider is called, so whatever happens next is on record. A phone payment
    (`channel=PHONE`, `created_by` the member of staff) is a MOTO payment at the provider.
    None: someone else's live payment for the case appeared meanwhile (decide again).
    """
    for _ in range(3):
        live = Payment.objects.filter(
            case_reference=case.reference, status__in=[s.value for s in LIVE_STATUSES]
        ).first()
        if live is not None:
            if live.owner != owner or live.channel != channel:
                return None
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
                    created_by=created_by,
                    owner=owner,
                    payer_address_hash=payer_address_hash,
                    link_sent_by=link_sent_by,
                    request_id=request_id.current(),
                )
        except IntegrityError:
            continue  # a concurrent request made the live payment first: resume that one
        return _create_at_provider(payment, return_url_for(payment), client)
    raise PaymentUnavailable("could not settle the live payment for this case")


def _create_at_provider(payment: Payment, return_url: str, client: ports.PaymentProvider) -> PaymentStart:
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
    except ports.ProviderOutcomeUnknown:
        # It may exist at the provider. Keep it live so the next attempt searches for it.
        move(payment, PaymentStatus.CREATE_UNKNOWN, "create")
        log.warning("payment create outcome unknown", extra={"payment_reference": payment.reference})
        raise PaymentUnavailable("payment provider did not answer") from None
    except ports.ProviderBusy as exc:
        move(payment, PaymentStatus.CREATE_FAILED, "create")  # nothing was sent
        raise PaymentBusy("too many provider calls in flight") from exc
    except ports.ProviderError as exc:
        move(payment, PaymentStatus.CREATE_FAILED, "create")
        log.error("payment create refused", extra={"payment_reference": payment.reference, "error": type(exc).__name__})
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


def _resume_or_close(live: Payment, amount_pence: int, client: ports.PaymentProvider) -> PaymentStart | None:
    """Continue a live payment, or close it; None means 'closed, make a new one'."""
    if live.state is PaymentStatus.NEW:
        live = _wait_for_concurrent_create(live)
        if live.state is PaymentStatus.NEW:
            raise PaymentUnavailable("another request for this penalty is still creating its payment")
        if not live.is_live:
            return None if live.state is not PaymentStatus.SUCCESS else PaymentStart(live, None)
    if live.state is PaymentStatus.CREATE_UNKNOWN:
        found = find_at_provider(live, client)
        if found is None:
            # The keeper never received that payment's card-page link, so nobody can pay it.
            move(live, PaymentStatus.ABANDONED, "resume")
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
        return PaymentStart(live, current.next_url, resumed=True)
    # The amount due has changed (a reduction deadline passed): replace the payment.
    try:
        client.cancel_payment(live.provider_payment_id)
    except ports.ProviderRejected:
        pass  # it finished meanwhile; the read below tells us how
    settle_payment(live, client.get_payment(live.provider_payment_id), source="resume")
    live.refresh_from_db()
    return PaymentStart(live, None) if live.state is PaymentStatus.SUCCESS else None
