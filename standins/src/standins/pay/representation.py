"""The contract's JSON for a payment and a refund, as the sandbox answers them."""

from __future__ import annotations

import logging
from datetime import date

from standins.pay.model import Payment, Refund, iso_time

log = logging.getLogger("standins.pay")


def state_json(payment: Payment) -> dict:
    state = {"status": payment.status, "finished": payment.finished}
    if payment.code:
        state["code"] = payment.code
        state["message"] = payment.message
    return state


def refund_summary(payment: Payment) -> dict:
    submitted = payment.amount_submitted()
    if any(d.status != "won" for d in payment.disputes):
        # As Stripe: a charged-back (or being-disputed) payment cannot be refunded as well.
        available, status = 0, "unavailable"
    elif payment.status == "success":
        available = payment.amount - submitted
        status = "available" if available > 0 else "full"
    elif payment.finished:
        available, status = 0, "unavailable"
    else:
        available, status = payment.amount, "pending"
    return {"status": status, "amount_available": available, "amount_submitted": submitted}


def settlement_summary(payment: Payment, today: date | None) -> dict:
    if payment.captured_at is None:
        return {}
    summary = {
        "capture_submit_time": iso_time(payment.captured_at),
        "captured_date": payment.captured_at.date().isoformat(),
    }
    if payment.settled_on is not None and today is not None and payment.settled_on <= today:
        summary["settled_date"] = payment.settled_on.isoformat()
    return summary


def payment_json(
    payment: Payment,
    base: str | None,
    *,
    next_token: str | None = None,
    card_base: str | None = None,
    today: date | None = None,
) -> dict:
    """The contract's payment object; without `base` (webhooks) it has no _links. `today`
    (the sandbox's date) says which settlement has happened."""
    obj: dict = {
        "payment_id": payment.payment_id,
        "amount": payment.amount,
        "reference": payment.reference,
        "description": payment.description,
        "return_url": payment.return_url,
        "language": payment.language,
        "moto": payment.moto,
        "state": state_json(payment),
        "created_date": iso_time(payment.created_at),
        "refund_summary": refund_summary(payment),
        "settlement_summary": settlement_summary(payment, today),
        "payment_provider": "sandbox",
        "delayed_capture": False,
        "authorisation_mode": "moto_api" if payment.moto else "web",
    }
    # A field that does not apply is left out, as the real API does — never null.
    optional = {
        "email": payment.email,
        "metadata": dict(payment.metadata) if payment.metadata is not None else None,
        "provider_id": payment.provider_id,
        "card_details": dict(payment.card_details) if payment.card_details else None,
        "card_brand": (payment.card_details or {}).get("card_brand"),
        # Only once the money is taken, as the published API says.
        "fee": payment.fee if payment.captured_at else None,
        "net_amount": payment.amount - payment.fee if payment.captured_at and payment.fee is not None else None,
        # As the published API: only where 3-D Secure was asked for.
        "authorisation_summary": ({"three_d_secure": {"required": True}} if payment.three_d_secure_required else None),
    }
    obj.update({name: value for name, value in optional.items() if value is not None})
    if base is not None:
        href = f"{base}/v1/payments/{payment.payment_id}"
        links = {"self": {"href": href, "method": "GET"}}
        if next_token and not payment.finished:
            # A real provider serves its card page from another host than its API (card_base).
            links["next_url"] = {"href": f"{card_base or base}/secure/{next_token}", "method": "GET"}
        links["events"] = {"href": f"{href}/events", "method": "GET"}
        links["refunds"] = {"href": f"{href}/refunds", "method": "GET"}
        links["cancel"] = {"href": f"{href}/cancel", "method": "POST"}
        obj["_links"] = links
    return obj


def refund_json(payment: Payment, refund: Refund, base: str, today: date | None = None) -> dict:
    href = f"{base}/v1/payments/{payment.payment_id}"
    settled = refund.status == "success" and refund.settled_on and today and refund.settled_on <= today
    return {
        "refund_id": refund.refund_id,
        "payment_id": payment.payment_id,
        "amount": refund.amount,
        "status": refund.status,
        "created_date": iso_time(refund.created_at),
        # Only once the refund has been taken from a payout (published API).
        **({"settlement_summary": {"settled_date": refund.settled_on.isoformat()}} if settled else {}),
        "_links": {
            "self": {"href": f"{href}/refunds/{refund.refund_id}", "method": "GET"},
            "payment": {"href": href, "method": "GET"},
        },
    }
