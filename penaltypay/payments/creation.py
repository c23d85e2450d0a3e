"""Taking a payment, mechanically: write the row, create it at the provider, or resume or
close the live one — never leaving two live payments for one penalty (docs/adr/0003).
Only the checkout (penaltypay.payments.checkout) calls it: it decides the amount and who
may resume what."""

from __future__ import annotations

import logging
import math
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
from penaltypay.payments.models import Payment, PaymentLine
from penaltypay.payments.settlement import find_at_provider, move, settle_payment

log = logging.getLogger("penaltypay.payments")

# How long a second request waits for a concurrent create (double click) to finish.
CONCURRENT_CREATE_WAIT_SECONDS = 15.0


class PaymentUnavailable(Exception):
    """The provider could not take the payment now; the keeper can try again later.
    Nothing was taken, and nothing live is left behind that could be."""


class PaymentBusy(PaymentUnavailable):
    """Nothing was sent: this process is at its limit of provider calls in flight, or the
    service's turns under the provider's rate limit are booked further ahead than a payer
    waits. The payer tries again in `retry_after` seconds (their look-up is kept)."""

    def __init__(self, message: str, retry_after: float = 60.0):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(error: Exception) -> int:
    """Whole seconds to ask a payer to wait after a busy answer (a minute if it says nothing)."""
    return max(1, math.ceil(getattr(error, "retry_after", None) or 60.0))


@dataclass(frozen=True)
class PaymentStart:
    payment: Payment
    next_url: str | None  # the provider's card page; None when the payment already finished
    resumed: bool = False


def payment_description(case: Case) -> str:
    name = CASE_TYPE_NAMES.get(case.case_type, "penalty")
    return f"{name[0].upper()}{name[1:]} {case.reference} ({case.vrm})"


def basket_description(cases: list[Case]) -> str:
    """What the payer's bank statement and the provider show for several penalties at once."""
    if len(cases) == 1:
        return payment_description(cases[0])
    listed = ", ".join(case.reference for case in cases)
    text = f"{len(cases)} vehicle penalties: {listed}"
    return text if len(text) <= 255 else text[:252] + "..."


@dataclass(frozen=True)
class Line:
    """One penalty to pay, and how much of it."""

    case: Case
    amount_pence: int


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
    payer_reference: str = "",
) -> PaymentStart | None:
    """One penalty: `start_lines` with one line."""
    return start_lines(
        [Line(case, amount_pence)],
        email=email,
        language=language,
        return_url_for=return_url_for,
        client=client,
        channel=channel,
        created_by=created_by,
        owner=owner,
        payer_address_hash=payer_address_hash,
        link_sent_by=link_sent_by,
        payer_reference=payer_reference,
    )


def _signature(lines) -> tuple:
    return tuple(sorted((line.case_reference, line.amount_pence) for line in lines))


def start_lines(
    lines: list[Line],
    *,
    email: str,
    language: str,
    return_url_for: Callable[[Payment], str],
    client: ports.PaymentProvider,
    channel: str,
    created_by: str,
    owner: str,
    payer_address_hash: str = "",
    link_sent_by: str = "",
    payer_reference: str = "",
) -> PaymentStart | None:
    """A card page for these penalties and amounts, never leaving two live payments on one.

    The owner's own live payment for exactly these lines is resumed (fresh card-page link);
    any other live payment of theirs on one of these penalties is closed first. The payment
    row and its lines are written before the provider is called, so whatever happens next
    is on record. A phone payment (`channel=PHONE`, `created_by` the member of staff) is a
    MOTO payment at the provider. None: someone else's live payment on one of the
    penalties appeared meanwhile (decide again).
    """
    wanted = tuple(sorted((line.case.reference, line.amount_pence) for line in lines))
    references = [line.case.reference for line in lines]
    for _ in range(3):
        lives = list(
            Payment.objects.filter(
                lines__case_reference__in=references, status__in=[s.value for s in LIVE_STATUSES]
            ).distinct()
        )
        if any(live.owner != owner or live.channel != channel for live in lives):
            return None
        if lives:
            for live in lives:
                resumed = _resume_or_close(live, wanted, client, only=len(lives) == 1)
                if resumed is not None:
                    if resumed.next_url is None and _signature(resumed.payment.lines.all()) != wanted:
                        return None  # another of their payments took some of these meanwhile: decide again
                    return resumed
            continue
        try:
            with transaction.atomic():
                lead = lines[0].case
                payment = Payment(
                    reference=new_payment_reference(),
                    first_case_reference=lead.reference,
                    case_type=lead.case_type,
                    amount_pence=sum(line.amount_pence for line in lines),
                    description=basket_description([line.case for line in lines]),
                    email=email or "",
                    language=language if language in ("en", "cy") else "en",
                    channel=channel,
                    created_by=created_by,
                    owner=owner,
                    payer_address_hash=payer_address_hash,
                    link_sent_by=link_sent_by,
                    payer_reference=payer_reference[:50],
                    request_id=request_id.current(),
                )
                payment.lines_given = True
                payment.save()
                PaymentLine.objects.bulk_create(
                    PaymentLine(
                        payment=payment,
                        position=position,
                        case_reference=line.case.reference,
                        case_type=line.case.case_type,
                        vrm=line.case.vrm,
                        amount_pence=line.amount_pence,
                    )
                    for position, line in enumerate(lines)
                )
        except IntegrityError:
            continue  # a concurrent request made a live payment first: decide again
        return _create_at_provider(payment, return_url_for(payment), client, penalties=len(lines))
    raise PaymentUnavailable("could not settle the live payment for these penalties")


def _create_at_provider(
    payment: Payment, return_url: str, client: ports.PaymentProvider, *, penalties: int
) -> PaymentStart:
    try:
        created = client.create_payment(
            amount=payment.amount_pence,
            reference=payment.reference,
            description=payment.description,
            return_url=return_url,
            language=payment.language,
            email=payment.email or None,
            moto=payment.channel == Payment.CHANNEL_PHONE,
            metadata={
                "case_reference": payment.first_case_reference,
                "case_type": payment.case_type,
                "penalties": str(penalties),
            },
        )
    except ports.ProviderOutcomeUnknown:
        # It may exist at the provider. Keep it live so the next attempt searches for it.
        move(payment, PaymentStatus.CREATE_UNKNOWN, "create")
        log.warning("payment create outcome unknown", extra={"payment_reference": payment.reference})
        raise PaymentUnavailable("payment provider did not answer") from None
    except (ports.ProviderBusy, ports.ProviderRateLimited) as exc:
        # Nothing was sent (or the provider refused it before acting on it, every retry).
        move(payment, PaymentStatus.CREATE_FAILED, "create")
        raise PaymentBusy(str(exc), retry_after=getattr(exc, "retry_after", None) or 60.0) from exc
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


def _resume_or_close(
    live: Payment, wanted: tuple, client: ports.PaymentProvider, *, only: bool = True
) -> PaymentStart | None:
    """Continue a live payment for exactly the `wanted` lines (when it is the `only` one on
    these penalties), or close it; None means 'closed, make a new one'."""
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
    if only and _signature(live.lines.all()) == wanted and current.next_url:
        return PaymentStart(live, current.next_url, resumed=True)
    # The amount due has changed (a reduction deadline passed), or the penalties did: replace it.
    try:
        client.cancel_payment(live.provider_payment_id)
    except ports.ProviderRejected:
        pass  # it finished meanwhile; the read below tells us how
    settle_payment(live, client.get_payment(live.provider_payment_id), source="resume")
    live.refresh_from_db()
    return PaymentStart(live, None) if live.state is PaymentStatus.SUCCESS else None
