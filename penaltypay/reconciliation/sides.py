"""The provider's side and ours of one day's money: the provider's searches (every page;
money it took under a reference of ours that we never saw succeed is adopted), our records,
lost disputes, and the provider's settlement for the day (fees, net payout). A side that
cannot be read in full makes the run incomplete, never presented as balanced."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import TYPE_CHECKING, TypeVar

from penaltypay.kernel.clock import LONDON
from penaltypay.payments import figures, ports, records
from penaltypay.payments.disputes import note_dispute_settled
from penaltypay.payments.domain import PaymentStatus

if TYPE_CHECKING:
    from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.refund_rules import RefundStatus
from penaltypay.payments.settlement import note_settlement, settle_payment
from penaltypay.reconciliation.rules import Money, Settlement

log = logging.getLogger("penaltypay.reconciliation")
T = TypeVar("T")


class Incomplete(Exception):
    """A source could not be read in full."""


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=LONDON)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=LONDON)


@dataclass
class Sides:
    provider: list[Money]
    ours: list[Money]
    settlement: Settlement = field(default_factory=Settlement)


def _our_payment(payment: Payment) -> Money:
    return Money(
        "PAYMENT", payment.reference, payment.provider_payment_id, payment.first_case_reference, payment.amount_pence
    )


def _our_refund(refund: Refund) -> Money:
    return Money(
        "REFUND",
        refund.reference,
        refund.provider_refund_id,
        refund.case_reference or refund.payment.first_case_reference,
        refund.amount_pence,
        refund.payment.reference,
    )


def _adopt(remote: ports.ProviderPayment) -> Payment | None:
    """Money the provider took under a reference of ours that we never saw succeed (a
    create whose answer was lost, abandoned since): settle it now, as the re-checker would."""
    payment = records.payment(remote.reference)
    if payment is None or payment.state is PaymentStatus.SUCCESS:
        return payment
    try:
        payment = settle_payment(payment, remote, source="reconcile")
    except Exception:
        log.exception("could not adopt a payment found at the provider", extra={"payment_reference": remote.reference})
        return None
    log.warning("payment adopted by reconciliation", extra={"payment_reference": payment.reference})
    return payment if payment.state is PaymentStatus.SUCCESS else None


def gather(day: date, provider: ports.PaymentProvider) -> Sides:
    """Both money lists for the day. Matching is by id, so movements near midnight that one
    side dates a moment apart are still one item: ours missing from the provider's day are
    read one by one, and the provider's are found among ours whatever their date."""
    start, end = day_window(day)
    try:
        remote_payments = [p for p in provider.search_payments(start, end) if p.status == "success"]
        remote_refunds = [r for r in provider.search_refunds(start, end) if r.status == "success"]
    except ports.ProviderError as exc:
        raise Incomplete(f"the provider could not be read: {type(exc).__name__}") from exc
    payments = {p.pk: p for p in figures.successful_payments_between(start, end)}
    refunds = {r.pk: r for r in figures.refunds_succeeded_between(start, end)}
    known_payments = {
        p.provider_payment_id: p
        for ids in chunks([p.payment_id for p in remote_payments])
        for p in figures.payments_with_provider_ids(ids)
    }
    for remote in remote_payments:
        mine = known_payments.get(remote.payment_id) or _adopt(remote)
        if mine is not None and mine.state is PaymentStatus.SUCCESS:
            payments.setdefault(mine.pk, mine)
            known_payments[remote.payment_id] = mine
    known_refunds = {
        r.provider_refund_id: r
        for ids in chunks([r.refund_id for r in remote_refunds])
        for r in figures.refunds_with_provider_ids(ids)
    }
    for remote_refund in remote_refunds:
        mine_refund = known_refunds.get(remote_refund.refund_id)
        if mine_refund is not None and mine_refund.state is RefundStatus.SUCCESS:
            refunds.setdefault(mine_refund.pk, mine_refund)
    provider_side = [_remote_payment(p, known_payments) for p in remote_payments]
    provider_side += [_remote_refund(r, known_refunds) for r in remote_refunds]
    seen = {m.provider_id for m in provider_side}
    try:
        for payment in payments.values():
            if payment.provider_payment_id and payment.provider_payment_id not in seen:
                held = _read_or_none(partial(provider.get_payment, payment.provider_payment_id))
                if held is not None and held.status == "success":
                    provider_side.append(_remote_payment(held, {held.payment_id: payment}))
        for refund in refunds.values():
            if refund.provider_refund_id and refund.provider_refund_id not in seen:
                found = _read_or_none(
                    partial(provider.get_refund, refund.payment.provider_payment_id, refund.provider_refund_id)
                )
                if found is not None and found.status == "success":
                    provider_side.append(
                        Money(
                            "REFUND",
                            refund.reference,
                            found.refund_id,
                            refund.case_reference or refund.payment.first_case_reference,
                            found.amount,
                            refund.payment.reference,
                        )
                    )
    except ports.ProviderError as exc:
        raise Incomplete(f"the provider could not be read: {type(exc).__name__}") from exc
    ours = [_our_payment(p) for p in payments.values()] + [_our_refund(r) for r in refunds.values()]
    try:
        settled = provider.search_settled(day, day + timedelta(days=1))
    except ports.ProviderError as exc:
        raise Incomplete(f"the provider's settlement could not be read: {type(exc).__name__}") from exc
    _keep_settlement(settled)
    dispute_sides = _disputes(day, settled.disputes)
    return Sides(provider_side + dispute_sides.provider, ours + dispute_sides.ours, _settlement_of(settled))


def _keep_settlement(settled: ports.Settled) -> None:
    """Each settled payment keeps its fee, net and payout day (finance reads them there)."""
    known = {
        p.provider_payment_id: p
        for ids in chunks([p.payment_id for p in settled.payments])
        for p in figures.payments_with_provider_ids(ids)
    }
    for remote in settled.payments:
        if remote.payment_id in known:
            note_settlement(known[remote.payment_id], remote)
    for dispute in settled.disputes:
        note_dispute_settled(dispute.dispute_id, dispute.settled_date)


def _settlement_of(settled: ports.Settled) -> Settlement:
    return Settlement(
        payments_pence=sum(p.amount for p in settled.payments),
        fees_pence=sum(p.fee or 0 for p in settled.payments) + sum(d.fee for d in settled.disputes),
        refunds_pence=sum(r.amount for r in settled.refunds if r.status == "success"),
        disputes_pence=sum(d.amount for d in settled.disputes),
    )


def _disputes(day: date, remote: list[ports.ProviderDispute]) -> Sides:
    """Lost disputes as money going back: the provider's settled that day, ours settled (or,
    not yet settled, lost) that day, each found on the other side whatever its date."""
    start, end = day_window(day)
    ours = {d.provider_dispute_id: d for d in figures.disputes_lost_on(day, start, end)}
    for found in figures.disputes_lost_with_ids([d.dispute_id for d in remote]):
        ours.setdefault(found.provider_dispute_id, found)
    return Sides(
        provider=[
            Money(
                "DISPUTE",
                d.dispute_id,
                d.dispute_id,
                ours[d.dispute_id].payment.first_case_reference if d.dispute_id in ours else "",
                d.amount,
                ours[d.dispute_id].payment.reference if d.dispute_id in ours else "",
            )
            for d in remote
        ],
        ours=[
            Money(
                "DISPUTE",
                d.provider_dispute_id,
                d.provider_dispute_id,
                d.payment.first_case_reference,
                d.amount_pence,
                d.payment.reference,
            )
            for d in ours.values()
        ],
    )


def chunks(values: list[str], size: int = 900) -> list[list[str]]:
    """IN lists small enough for any database (SQLite allows 999 parameters in older builds)."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def _read_or_none(read: Callable[[], T]) -> T | None:
    """The provider's record, or None when it has none (missing_at_provider, for classify)."""
    try:
        return read()
    except (ports.PaymentNotFound, ports.RefundNotFound):
        return None


def _remote_payment(remote: ports.ProviderPayment, known: dict[str, Payment]) -> Money:
    mine = known.get(remote.payment_id)
    return Money(
        "PAYMENT",
        mine.reference if mine else remote.reference,
        remote.payment_id,
        mine.first_case_reference if mine else remote.case_reference,
        remote.amount,
    )


def _remote_refund(remote: ports.ProviderRefund, known: dict[str, Refund]) -> Money:
    mine = known.get(remote.refund_id)
    if mine is not None:
        return Money(
            "REFUND",
            mine.reference,
            remote.refund_id,
            mine.case_reference or mine.payment.first_case_reference,
            remote.amount,
            mine.payment.reference,
        )
    payment = figures.payments_with_provider_ids([remote.payment_id]).first()
    return Money(
        "REFUND",
        remote.refund_id,
        remote.refund_id,
        payment.first_case_reference if payment else "",
        remote.amount,
        payment.reference if payment else "",
    )


def cases_of(sides: Sides) -> set[str]:
    """Every case whose ECS ledger the day's money touches: a basket's payment, every penalty
    it paid (ECS holds one payment line on each)."""
    cases = {m.case_reference for m in sides.provider + sides.ours if m.case_reference}
    payments = [m.key for m in sides.ours if m.kind == "PAYMENT"]
    for keys in chunks(payments):
        cases.update(figures.penalties_paid_by(keys))
    return cases
