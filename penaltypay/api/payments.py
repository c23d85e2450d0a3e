"""Payments for machine clients: create one (honouring Idempotency-Key), read one, list
them a page at a time with a cursor that never loses or repeats one."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from penaltypay.api.models import ApiClient, IdempotencyRecord
from penaltypay.api.problems import Problem
from penaltypay.cases.domain import Case
from penaltypay.ecs.deliveries import deliveries_of_payment_lines, delivery_of_payment
from penaltypay.payments import checkout, records
from penaltypay.payments.creation import PaymentBusy, PaymentUnavailable, retry_after_seconds
from penaltypay.payments.ports import payment_provider

if TYPE_CHECKING:
    from penaltypay.payments.models import Payment
from penaltypay.payments.ports import ProviderBusy, ProviderError
from penaltypay.security import card_page_allowed

WAIT_FOR_TWIN_SECONDS = 10.0
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "testserver"}


def as_json(payment: Payment, next_url: str | None = None) -> dict:
    delivery = delivery_of_payment(payment.reference)
    lines = list(payment.lines.all())
    by_line = deliveries_of_payment_lines([payment.reference])
    return {
        "payment_reference": payment.reference,
        "case_reference": payment.first_case_reference,
        "status": payment.status,
        "amount_pence": payment.amount_pence,
        "channel": payment.channel,
        "created_at": payment.created_at,
        "finished_at": payment.finished_at,
        "next_url": next_url,
        "ecs": {
            "status": delivery.status.value,
            "recorded_at": payment.ecs_recorded_at,
        },
        "refunds": [
            {
                "refund_reference": r.reference,
                "case_reference": r.case_reference or payment.first_case_reference,
                "amount_pence": r.amount_pence,
                "status": r.status,
                "requested_at": r.requested_at,
                "finished_at": r.finished_at,
            }
            for r in records.refunds_of(payment)
        ],
        "lines": [
            {
                "case_reference": line.case_reference,
                "amount_pence": line.amount_pence,
                "ecs": {
                    "status": (
                        by_line[(payment.reference, line.case_reference)].status.value
                        if (payment.reference, line.case_reference) in by_line
                        else "not_queued"
                    ),
                    "recorded_at": line.ecs_recorded_at,
                },
            }
            for line in lines
        ],
        "your_reference": payment.payer_reference or None,
    }


def check_details(email: str | None, return_url: str) -> None:
    errors = []
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            errors.append({"field": "email", "message": "Not an email address"})
    parts = urlsplit(return_url)
    local_http = parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and not settings.PRODUCTION
    if not parts.hostname or (parts.scheme != "https" and not local_http):
        errors.append({"field": "return_url", "message": "An https URL the payer's browser can open"})
    if errors:
        raise Problem(422, "invalid-request", "Check the payment's details", errors=errors)


def body_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def claim_key(client: ApiClient, key: str, digest: str) -> IdempotencyRecord | Payment:
    """Our record of this key, new; or the payment an earlier request with it made. A twin
    waits for the first; if the first fails it releases the key and the twin goes ahead."""
    deadline = time.monotonic() + WAIT_FOR_TWIN_SECONDS
    while True:
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(client=client, key=key, request_hash=digest)
        except IntegrityError:
            pass
        earlier = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if earlier is None:
            continue  # the first request failed and let the key go: this one may make the payment
        if earlier.request_hash != digest:
            raise Problem(422, "idempotency-key-reused", "This Idempotency-Key was used with a different request")
        if earlier.payment_reference:
            made = records.payment(earlier.payment_reference)
            assert made is not None  # payments are never deleted
            return made
        if time.monotonic() > deadline:
            raise Problem(
                409,
                "request-in-progress",
                "The first request with this key is still running; retry soon",
                headers={"Retry-After": "5"},
            )
        time.sleep(0.1)


def release_key(record: IdempotencyRecord | None) -> None:
    if record is not None:
        IdempotencyRecord.objects.filter(pk=record.pk, payment_reference="").delete()


def settle_key(record: IdempotencyRecord | None, payment: Payment) -> None:
    if record is not None:
        IdempotencyRecord.objects.filter(pk=record.pk).update(payment_reference=payment.reference)


def fresh_next_url(payment: Payment) -> str | None:
    """The payer's card page for a payment still in progress (each read gives a new link)."""
    if not payment.is_live or not payment.provider_payment_id:
        return None
    try:
        url = payment_provider().get_payment(payment.provider_payment_id).next_url
    except ProviderError:
        return None
    return url if url and card_page_allowed(url) else None


def _busy(error: Exception) -> Problem:
    """Nothing was sent: the provider's rate limit (or our calls to it) is fully booked."""
    seconds = retry_after_seconds(error)
    return Problem(
        429,
        "provider-busy",
        f"The card payment provider's rate limit is fully booked; nothing was created: try again in {seconds} seconds",
        headers={"Retry-After": str(seconds)},
    )


def create(
    client: ApiClient, case: Case, email: str | None, return_url: str, language: str, your_reference: str = ""
) -> tuple[Payment, str | None, bool]:
    """The checkout's answer for a machine client: (payment, card page, resumed) or a problem."""
    try:
        outcome = checkout.check_out(
            case,
            checkout.Payer.api_client(client.client_id, client.name),
            email=email or "",
            language=language,
            return_url_for=lambda payment: return_url,
            client=payment_provider(),
            payer_reference=your_reference,
        )
    except (PaymentBusy, ProviderBusy) as error:
        raise _busy(error) from None
    except (PaymentUnavailable, ProviderError):
        raise Problem(
            503,
            "service-unavailable",
            "The card payment provider is not answering; try again soon",
            headers={"Retry-After": "60"},
        ) from None
    if isinstance(outcome, checkout.NotPayable):
        reason = outcome.quote.reason.value if outcome.quote.reason else "nothing due"
        raise Problem(422, "case-not-payable", f"This penalty cannot be paid now ({reason})")
    if isinstance(outcome, checkout.PaidElsewhere):
        wait = max(1, int((outcome.until - timezone.now()).total_seconds()))
        raise Problem(
            409,
            "payment-in-progress",
            f"This penalty is being paid through another channel ({outcome.channel}) right now; "
            f"try again after {outcome.until.isoformat(timespec='seconds')}",
            headers={"Retry-After": str(wait)},
            extra={"channel": outcome.channel},
        )
    if isinstance(outcome, checkout.CardPageRefused):
        raise Problem(503, "service-unavailable", "The card payment provider's answer could not be trusted; try again")
    if isinstance(outcome, checkout.Paused):
        wait = max(1, int((outcome.pause.until - timezone.now()).total_seconds()))
        raise Problem(
            429,
            "payment-paused",
            "Too many cards were declined for this penalty: online payment is paused; the keeper can pay by phone",
            headers={"Retry-After": str(wait)},
        )
    return outcome.payment, outcome.next_url, outcome.resumed


def create_basket(
    client: ApiClient, cases: list[Case], email: str | None, return_url: str, language: str, your_reference: str
) -> tuple[Payment, str | None, bool]:
    """Several penalties in one payment, each at the amount due now (the checkout quotes them
    again under their locks); any that cannot be paid now is a problem naming it."""
    try:
        outcome = checkout.check_out_basket(
            [(case, checkout.quote(case).due.total_pence) for case in cases],
            checkout.Payer.api_client(client.client_id, client.name),
            email=email or "",
            language=language,
            payer_reference=your_reference,
            return_url_for=lambda payment: return_url,
            client=payment_provider(),
        )
    except (PaymentBusy, ProviderBusy) as error:
        raise _busy(error) from None
    except (PaymentUnavailable, ProviderError):
        raise Problem(
            503,
            "service-unavailable",
            "The card payment provider is not answering; try again soon",
            headers={"Retry-After": "60"},
        ) from None
    if isinstance(outcome, checkout.BasketChanged):
        errors = [
            {
                "field": f"cases.{change.case.reference}",
                "message": (
                    f"the amount due is now {change.now_pence} pence" if change.now_pence is not None else change.reason
                ),
            }
            for change in outcome.changes
        ]
        being_paid = any(change.reason == "being-paid" for change in outcome.changes)
        raise Problem(
            409 if being_paid else 422,
            "payment-in-progress" if being_paid else "case-not-payable",
            "Some of these penalties cannot be paid together now: take them out and try again",
            errors=errors,
        )
    if isinstance(outcome, checkout.CardPageRefused):
        raise Problem(503, "service-unavailable", "The card payment provider's answer could not be trusted; try again")
    if isinstance(outcome, checkout.Paused):
        wait = max(1, int((outcome.pause.until - timezone.now()).total_seconds()))
        raise Problem(
            429,
            "payment-paused",
            "Too many cards were declined for one of these penalties: online payment is paused",
            headers={"Retry-After": str(wait)},
        )
    return outcome.payment, outcome.next_url, outcome.resumed


def as_utc(name: str, value: datetime | None) -> datetime | None:
    """A query time with its offset, in UTC (PostgreSQL refuses offsets beyond ±15:59,
    which ISO 8601 allows)."""
    if value is None:
        return None
    problem = "Add a time-zone offset, e.g. 2026-11-28T00:00:00Z" if value.tzinfo is None else ""
    if not problem:
        try:
            return value.astimezone(UTC)
        except OverflowError:
            problem = "Give a time between the years 1 and 9999"
    raise Problem(422, "invalid-request", f"`{name}`: {problem}", errors=[{"field": name, "message": problem}])


def encode_cursor(payment: Payment) -> str:
    raw = json.dumps([payment.created_at.isoformat(), payment.reference]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, reference = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(reference, str):
            raise ValueError
        return moment.astimezone(UTC), reference
    except (ValueError, TypeError, OverflowError):
        raise Problem(400, "invalid-cursor", "Use the next_cursor of an earlier page") from None


def page(
    after: str | None, start: datetime | None, end: datetime | None, status: str | None, limit: int
) -> tuple[list[Payment], str | None, bool]:
    """Oldest first, so payments made while a client pages arrive on later pages: none is
    lost or shown twice. The newest few seconds are held back: a payment is stamped when
    its row is written but seen when its transaction commits, so two made at once can
    become visible out of order, and a cursor already past the earlier one would skip it.
    Returns the items, the cursor after the last of them (or the one given: a client keeps
    it to poll for newer payments) and whether more are ready now."""
    horizon = timezone.now() - timedelta(seconds=settings.API_LIST_SETTLE_SECONDS)
    payments = records.payments_made_before(horizon)
    if start:
        payments = payments.filter(created_at__gte=start)
    if end:
        payments = payments.filter(created_at__lt=end)
    if status:
        payments = payments.filter(status=status)
    if after:
        at, reference = decode_cursor(after)
        payments = records.after_cursor(payments, at, reference)
    found = list(payments.order_by("created_at", "reference")[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return found, encode_cursor(found[-1]) if found else after, more
