"""Payments for machine clients: create one (honouring Idempotency-Key), read one, list
them a page at a time with a cursor that never loses or repeats one."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from penaltypay.adapters.factories import payment_provider
from penaltypay.api.models import ApiClient, IdempotencyRecord
from penaltypay.api.problems import Problem
from penaltypay.ecs.models import OutboxEvent
from penaltypay.payments.creation import PaymentUnavailable, start_payment
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.ports import ProviderError
from penaltypay.security import card_page_allowed

ECS_STATUS = {
    OutboxEvent.PENDING: "queued",
    OutboxEvent.SENT: "sent",
    OutboxEvent.EXCEPTION: "exception",
    OutboxEvent.RESOLVED: "resolved",
}
WAIT_FOR_TWIN_SECONDS = 10.0
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "testserver"}


def as_json(payment: Payment, next_url: str | None = None) -> dict:
    event = OutboxEvent.objects.filter(kind=OutboxEvent.KIND_PAYMENT, payment_reference=payment.reference).first()
    return {
        "payment_reference": payment.reference,
        "case_reference": payment.case_reference,
        "status": payment.status,
        "amount_pence": payment.amount_pence,
        "channel": payment.channel,
        "created_at": payment.created_at,
        "finished_at": payment.finished_at,
        "next_url": next_url,
        "ecs": {
            "status": ECS_STATUS.get(event.status, "queued") if event else "not_queued",
            "recorded_at": payment.ecs_recorded_at,
        },
        "refunds": [
            {
                "refund_reference": r.reference,
                "amount_pence": r.amount_pence,
                "status": r.status,
                "requested_at": r.requested_at,
                "finished_at": r.finished_at,
            }
            for r in Refund.objects.filter(payment=payment).order_by("requested_at", "pk")
        ],
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
    """Our record of this key, new; or the payment an earlier request with it made."""
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(client=client, key=key, request_hash=digest)
    except IntegrityError:
        pass
    deadline = time.monotonic() + WAIT_FOR_TWIN_SECONDS
    while True:
        earlier = IdempotencyRecord.objects.get(client=client, key=key)
        if earlier.request_hash != digest:
            raise Problem(422, "idempotency-key-reused", "This Idempotency-Key was used with a different request")
        if earlier.payment_reference:
            return Payment.objects.get(reference=earlier.payment_reference)
        if time.monotonic() > deadline:
            raise Problem(
                409,
                "request-in-progress",
                "The first request with this key is still running; retry soon",
                headers={"Retry-After": "5"},
            )
        time.sleep(0.1)


def fresh_next_url(payment: Payment) -> str | None:
    """The payer's card page for a payment still in progress (each read gives a new link)."""
    if not payment.is_live or not payment.provider_payment_id:
        return None
    try:
        url = payment_provider().get_payment(payment.provider_payment_id).next_url
    except ProviderError:
        return None
    return url if url and card_page_allowed(url) else None


def create(
    client: ApiClient, case, amount_pence: int, email: str | None, return_url: str, language: str
) -> tuple[Payment, str | None]:
    try:
        started = start_payment(
            case,
            amount_pence=amount_pence,
            email=email or "",
            language=language,
            return_url_for=lambda payment: return_url,
            client=payment_provider(),
            created_by=f"api:{client.name}",
        )
    except (PaymentUnavailable, ProviderError):
        raise Problem(
            503,
            "service-unavailable",
            "The card payment provider is not answering; try again soon",
            headers={"Retry-After": "60"},
        ) from None
    next_url = started.next_url if started.next_url and card_page_allowed(started.next_url) else None
    return started.payment, next_url


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
    payments = Payment.objects.filter(created_at__lt=horizon)
    if start:
        payments = payments.filter(created_at__gte=start)
    if end:
        payments = payments.filter(created_at__lt=end)
    if status:
        payments = payments.filter(status=status)
    if after:
        at, reference = decode_cursor(after)
        payments = payments.filter(Q(created_at__gt=at) | Q(created_at=at, reference__gt=reference))
    found = list(payments.order_by("created_at", "reference")[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return found, encode_cursor(found[-1]) if found else after, more
