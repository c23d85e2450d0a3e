"""Provider webhooks: a signed hint that a payment changed. We verify the
signature, then read the payment from the provider and settle it; the body's
state is never trusted, so duplicates, late and out-of-order messages change
nothing twice."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from penaltypay.kernel.security_events import WEBHOOK_SIGNATURE_INVALID, security_event
from penaltypay.payments import ports
from penaltypay.payments.disputes import sync_disputes
from penaltypay.payments.models import Payment, WebhookMessage
from penaltypay.payments.refunds import follow_refunds
from penaltypay.payments.settlement import refresh_payment

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9_\-]{1,64}")

HANDLED_EVENTS = {"card_payment_succeeded", "card_payment_failed", "card_payment_expired", "card_payment_refunded"}
# Dispute messages (the published documents name none; the sandbox's names: ADR 0022).
DISPUTE_EVENT_PREFIX = "card_payment_dispute"


@dataclass(frozen=True)
class WebhookResult:
    status: int  # HTTP status to answer the provider with
    detail: str


def handle_webhook(raw_body: bytes, signature: str | None, client: ports.PaymentProvider) -> WebhookResult:
    if not client.webhook_signature_valid(raw_body, signature):
        security_event(WEBHOOK_SIGNATURE_INVALID, body_bytes=len(raw_body), signature_given=bool(signature))
        return WebhookResult(401, "signature does not match")
    try:
        message = json.loads(raw_body.decode("utf-8"))
        message_id = str(message["webhook_message_id"])
        event_type = str(message["event_type"])
        resource_id = str(message["resource_id"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return WebhookResult(400, "body is not a webhook message")
    # Ids are the provider's opaque tokens: anything else (control characters, NUL,
    # markup) is not a message from it, and must not reach the database or the logs.
    if not all(_TOKEN.fullmatch(value) for value in (message_id, event_type, resource_id)):
        return WebhookResult(400, "body is not a webhook message")
    try:
        with transaction.atomic():
            WebhookMessage.objects.create(message_id=message_id, event_type=event_type, resource_id=resource_id)
        first_time = True
    except IntegrityError:
        first_time = False  # a redelivery: still safe to re-read, but nothing will change
    if event_type.startswith(DISPUTE_EVENT_PREFIX) or message.get("resource_type") == "dispute":
        return _dispute_hint(message, client)
    payment = Payment.objects.filter(provider_payment_id=resource_id).first()
    if payment is None:
        log.warning("webhook for a payment we do not hold", extra={"resource_id": resource_id})
        return WebhookResult(200, "unknown payment ignored")
    if event_type not in HANDLED_EVENTS:
        return WebhookResult(200, "event type ignored")
    if event_type == "card_payment_refunded":
        try:
            follow_refunds(payment, client)
        except ports.ProviderError:
            return WebhookResult(503, "could not read the refunds from the provider")
        return WebhookResult(200, "refunds followed")
    if not payment.is_live:
        return WebhookResult(200, "already settled")
    try:
        refresh_payment(payment, client, source="webhook")
    except ports.ProviderError:
        # Answer non-2xx so the provider redelivers; the re-checker will also settle it.
        return WebhookResult(503, "could not read the payment from the provider")
    return WebhookResult(200, "settled" if first_time else "duplicate re-checked")


def _dispute_hint(message: dict, client: ports.PaymentProvider) -> WebhookResult:
    """A dispute changed: search the provider's disputes raised around the time the message
    gives (a wrong or missing time only narrows what is found: the worker's own search
    still finds it), and keep what the search says, never the message."""
    raised = None
    resource = message.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("created_date"), str):
        try:
            raised = datetime.fromisoformat(resource["created_date"].replace("Z", "+00:00"))
        except ValueError:
            raised = None
    try:
        if raised is not None and raised.tzinfo is not None:
            report = sync_disputes(
                client, since=raised - timedelta(hours=1), until=raised + timedelta(hours=1), source="webhook"
            )
        else:
            report = sync_disputes(client, source="webhook")
    except ports.ProviderError:
        return WebhookResult(503, "could not read the disputes from the provider")
    return WebhookResult(200, f"disputes searched ({report.seen} seen)")
