"""Mapping between the provider's JSON and the port's types (GOV.UK Pay's payment, refund,
dispute and webhook formats): what the provider sends, read strictly; what we send, in its
format. The operations are in penaltypay.adapters.pay_api, the transport in pay_transport."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime

from penaltypay.payments.ports import (
    DISPUTE_STATUSES,
    FINISHED_STATUSES,
    ProviderDispute,
    ProviderPayment,
    ProviderRefund,
)


def api_time(moment: datetime) -> str:
    """The provider's time format: ISO 8601 UTC with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text) -> datetime:
    if not isinstance(text, str):
        raise ValueError("time is not a string")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not a whole number")
    return value


def payment_from_json(obj) -> ProviderPayment:
    """A payment object from an API answer or a webhook's `resource` (which has no
    `_links`). ValueError when it is not a payment object."""
    try:
        state = obj["state"]
        status = state["status"]
        if not isinstance(status, str) or not status:
            raise ValueError("state.status is missing")
        finished = state.get("finished")
        if not isinstance(finished, bool):
            finished = status in FINISHED_STATUSES
        card = obj.get("card_details") or {}
        settlement = obj.get("settlement_summary") or {}
        refunds = obj.get("refund_summary") or {}
        next_url = ((obj.get("_links") or {}).get("next_url") or {}).get("href")
        captured = settlement.get("captured_date")
        submitted = settlement.get("capture_submit_time")
        return ProviderPayment(
            payment_id=str(obj["payment_id"]),
            amount=_whole(obj["amount"], "amount"),
            reference=str(obj["reference"]),
            description=str(obj.get("description") or ""),
            language=str(obj.get("language") or "en"),
            email=obj.get("email") or None,
            status=status,
            finished=finished,
            failure_code=state.get("code") or None,
            failure_message=state.get("message") or None,
            next_url=next_url if (next_url and not finished) else None,
            provider_id=obj.get("provider_id") or None,
            card_brand=card.get("card_brand") or None,
            card_last_four=card.get("last_digits_card_number") or None,
            created_date=_parse_time(obj["created_date"]),
            captured_date=date.fromisoformat(captured) if captured else None,
            refund_amount_available=_whole(refunds.get("amount_available", 0), "refund_summary.amount_available"),
            refund_status=refunds.get("status") or None,
            authorised_at=_parse_time(submitted) if submitted else None,
            moto=obj.get("moto") is True,
            wallet_type=card.get("wallet_type") or None,
            three_d_secure_required=(
                ((obj.get("authorisation_summary") or {}).get("three_d_secure") or {}).get("required") is True
            ),
            case_reference=str((obj.get("metadata") or {}).get("case_reference") or ""),
            fee=_whole(obj["fee"], "fee") if obj.get("fee") is not None else None,
            net_amount=_whole(obj["net_amount"], "net_amount") if obj.get("net_amount") is not None else None,
            settled_date=_day(settlement.get("settled_date")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a payment object: {type(exc).__name__} {exc}") from None


def refund_from_json(obj) -> ProviderRefund:
    try:
        return ProviderRefund(
            refund_id=str(obj["refund_id"]),
            amount=_whole(obj["amount"], "amount"),
            status=str(obj["status"]),
            created_date=_parse_time(obj["created_date"]),
            payment_id=str(obj.get("payment_id") or ""),
            settled_date=_day((obj.get("settlement_summary") or {}).get("settled_date")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a refund object: {type(exc).__name__} {exc}") from None


def dispute_from_json(obj) -> ProviderDispute:
    try:
        status = str(obj["status"])
        if status not in DISPUTE_STATUSES:
            raise ValueError(f"unknown dispute status {status!r}")
        due = obj.get("evidence_due_date")
        return ProviderDispute(
            dispute_id=str(obj["dispute_id"]),
            payment_id=str(obj["payment_id"]),
            amount=_whole(obj["amount"], "amount"),
            fee=_whole(obj.get("fee") or 0, "fee"),
            status=status,
            reason=str(obj.get("reason") or ""),
            created_date=_parse_time(obj["created_date"]),
            evidence_due_date=_parse_time(due) if due else None,
            net_amount=_whole(obj["net_amount"], "net_amount") if obj.get("net_amount") is not None else None,
            settled_date=_day((obj.get("settlement_summary") or {}).get("settled_date")),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a dispute object: {type(exc).__name__} {exc}") from None


def _day(text) -> date | None:
    if text in (None, ""):
        return None
    if not isinstance(text, str):
        raise ValueError("a date is not a string")
    return date.fromisoformat(text)


def verify_webhook_signature(raw_body: bytes, signature_header: str | None, secret: str) -> bool:
    """True when `Pay-Signature` is the HMAC-SHA256 (hex) of the exact raw body."""
    if not signature_header or not secret or raw_body is None:
        return False
    given = signature_header.strip().lower()
    if len(given) != 64 or any(c not in "0123456789abcdef" for c in given):
        return False
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


# --- the client ------------------------------------------------------------
