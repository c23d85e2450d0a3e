"""Disputes (chargebacks) as GOV.UK Pay documents them: the payer's bank challenges a
captured payment; the dispute needs a response, goes under review and is won or lost. A
lost dispute's amount and fee come out of that day's payout. The test cards decide the
ending; the times are settings (`dispute_open_seconds`, `dispute_decide_seconds`).

Webhooks: the published documents name no dispute event types, so the sandbox sends
`card_payment_dispute_created`, `..._evidence_submitted`, `..._won` and `..._lost` with the
dispute as the resource (docs/adr/0022): a service treats them as hints and searches."""

from __future__ import annotations

from datetime import timedelta

from standins.pay import search
from standins.pay.model import DISPUTE_STATUSES, Dispute, Payment, iso_time, new_id
from standins.pay.settlement import settlement_day

EVIDENCE_DAYS = 10  # how long the payer's service has to answer (a real bank allows 7-21 days)
REASONS = {"lost": "fraudulent", "won": "product_not_received"}


def dispute_json(payment: Payment, dispute: Dispute, base: str | None) -> dict:
    """The published DisputeDetailForSearch; `net_amount` and `settlement_summary` only
    once the dispute is lost."""
    obj: dict = {
        "amount": dispute.amount,
        "created_date": iso_time(dispute.created_at),
        "dispute_id": dispute.dispute_id,
        "evidence_due_date": iso_time(dispute.evidence_due),
        "fee": dispute.fee,
        "payment_id": payment.payment_id,
        "reason": dispute.reason,
        "status": dispute.status,
    }
    if dispute.status == "lost":
        obj["net_amount"] = dispute.net_amount
        if dispute.settled_on is not None:
            obj["settlement_summary"] = {"settled_date": dispute.settled_on.isoformat()}
    if base is not None:
        obj["_links"] = {"payment": {"href": f"{base}/v1/payments/{payment.payment_id}", "method": "GET"}}
    return obj


class Disputes:
    """Mixed into SandboxProvider: it holds the state these operate on."""

    def _advance_disputes(self, payment: Payment) -> None:
        """Open and decide this payment's dispute when their times have come (under the lock)."""
        if not payment.dispute_plan or payment.captured_at is None:
            return
        now = self._now()
        opens_at = payment.captured_at + timedelta(seconds=self._config["dispute_open_seconds"])
        if not payment.disputes and now >= opens_at:
            dispute = Dispute(
                dispute_id=new_id(),
                amount=payment.amount,
                fee=self._config["dispute_fee_pence"],
                reason=REASONS[payment.dispute_plan],
                outcome=payment.dispute_plan,
                created_at=opens_at,
                evidence_due=opens_at + timedelta(days=EVIDENCE_DAYS),
            )
            payment.disputes.append(dispute)
            self._dirty = True
            self._emit_dispute(payment, dispute, "card_payment_dispute_created")
        for dispute in payment.disputes:
            if dispute.status in ("won", "lost"):
                continue
            decide_at = dispute.created_at + timedelta(seconds=self._config["dispute_decide_seconds"])
            review_at = dispute.created_at + timedelta(seconds=self._config["dispute_decide_seconds"] / 2)
            if dispute.status == "needs_response" and now >= review_at and now < decide_at:
                dispute.status = "under_review"
                self._dirty = True
                self._emit_dispute(payment, dispute, "card_payment_dispute_evidence_submitted")
            if now >= decide_at:
                dispute.status = dispute.outcome
                dispute.decided_at = decide_at
                if dispute.status == "lost":
                    dispute.settled_on = settlement_day(decide_at) + timedelta(days=self._config["settle_after_days"])
                self._dirty = True
                self._emit_dispute(payment, dispute, f"card_payment_dispute_{dispute.status}")

    def _emit_dispute(self, payment: Payment, dispute: Dispute, event_type: str) -> None:
        self._emit_message(dispute.dispute_id, "dispute", event_type, dispute_json(payment, dispute, None))

    def api_search_disputes(self, query: str, base: str):
        q = search.parse(query)
        status = q.text("status")
        if status is not None and status not in DISPUTE_STATUSES:
            raise search.invalid("status", "Must be one of needs_response, under_review, lost, won")
        from_date, to_date = q.moment("from_date"), q.moment("to_date")
        from_settled, to_settled = q.day("from_settled_date"), q.day("to_settled_date")
        with self._lock:
            for payment in self._payments.values():
                self._advance_disputes(payment)
            matches = sorted(
                (
                    (payment, dispute)
                    for payment in self._payments.values()
                    for dispute in payment.disputes
                    if (status is None or dispute.status == status)
                    and (from_date is None or dispute.created_at >= from_date)
                    and (to_date is None or dispute.created_at < to_date)
                    and search.settled_between(dispute.settled_on, from_settled, to_settled, self._today())
                ),
                key=lambda pair: pair[1].created_at,
                reverse=True,
            )
            body = search.page_of(
                q, matches, lambda pair: dispute_json(pair[0], pair[1], base), base, "/v1/disputes", links_key="links"
            )
            return 200, body, {}
