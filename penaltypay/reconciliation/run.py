"""Reconciling one day: read the provider (every page of its search), our records and the
ECS ledger of every case touched (politely: a few at a time, never in the batch window,
resuming a run ECS dropped out of), class every movement (`rules.classify`) and store the
run. A run that could not read everything is `incomplete`, never presented as balanced."""

from __future__ import annotations

import logging
import time as monotonic_time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from penaltypay.ecs import deliveries, errors
from penaltypay.ecs.delivery import in_batch_window
from penaltypay.ecs.ports import EcsLedger
from penaltypay.kernel.clock import LONDON
from penaltypay.payments import ports
from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment, Refund
from penaltypay.payments.refund_rules import RefundStatus
from penaltypay.payments.settlement import settle_payment
from penaltypay.reconciliation.models import LedgerRead, ReconciliationItem, ReconciliationRun
from penaltypay.reconciliation.rules import Delivery, LedgerLine, Money, Outcome, classify

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


def _our_payment(payment: Payment) -> Money:
    return Money(
        "PAYMENT", payment.reference, payment.provider_payment_id, payment.case_reference, payment.amount_pence
    )


def _our_refund(refund: Refund) -> Money:
    return Money(
        "REFUND",
        refund.reference,
        refund.provider_refund_id,
        refund.payment.case_reference,
        refund.amount_pence,
        refund.payment.reference,
    )


def _adopt(remote: ports.ProviderPayment) -> Payment | None:
    """Money the provider took under a reference of ours that we never saw succeed (a
    create whose answer was lost, abandoned since): settle it now, as the re-checker would."""
    payment = Payment.objects.filter(reference=remote.reference).first()
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
    payments = {
        p.pk: p
        for p in Payment.objects.filter(status=PaymentStatus.SUCCESS.value, created_at__gte=start, created_at__lt=end)
    }
    refunds = {
        r.pk: r
        for r in Refund.objects.select_related("payment").filter(
            status=RefundStatus.SUCCESS.value, submitted_at__gte=start, submitted_at__lt=end
        )
    }
    known_payments = {
        p.provider_payment_id: p
        for ids in _chunks([p.payment_id for p in remote_payments])
        for p in Payment.objects.filter(provider_payment_id__in=ids)
    }
    for remote in remote_payments:
        mine = known_payments.get(remote.payment_id) or _adopt(remote)
        if mine is not None and mine.state is PaymentStatus.SUCCESS:
            payments.setdefault(mine.pk, mine)
            known_payments[remote.payment_id] = mine
    known_refunds = {
        r.provider_refund_id: r
        for ids in _chunks([r.refund_id for r in remote_refunds])
        for r in Refund.objects.select_related("payment").filter(provider_refund_id__in=ids)
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
                            refund.payment.case_reference,
                            found.amount,
                            refund.payment.reference,
                        )
                    )
    except ports.ProviderError as exc:
        raise Incomplete(f"the provider could not be read: {type(exc).__name__}") from exc
    ours = [_our_payment(p) for p in payments.values()] + [_our_refund(r) for r in refunds.values()]
    return Sides(provider_side, ours)


def _chunks(values: list[str], size: int = 900) -> list[list[str]]:
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
        mine.case_reference if mine else remote.case_reference,
        remote.amount,
    )


def _remote_refund(remote: ports.ProviderRefund, known: dict[str, Refund]) -> Money:
    mine = known.get(remote.refund_id)
    if mine is not None:
        return Money(
            "REFUND",
            mine.reference,
            remote.refund_id,
            mine.payment.case_reference,
            remote.amount,
            mine.payment.reference,
        )
    payment = Payment.objects.filter(provider_payment_id=remote.payment_id).first()
    return Money(
        "REFUND",
        remote.refund_id,
        remote.refund_id,
        payment.case_reference if payment else "",
        remote.amount,
        payment.reference if payment else "",
    )


def read_ledgers(
    run: ReconciliationRun, cases: set[str], ecs_factory: Callable[[], EcsLedger], concurrency: int, now: datetime
) -> dict[str, list[LedgerLine]]:
    """Each case's ledger, a few at a time; those this run read before are not read again."""
    done = {read.case_reference: read.lines for read in LedgerRead.objects.filter(run=run)}
    wanted = sorted(cases - set(done))
    if wanted and settings.ECS_RESPECT_BATCH_WINDOW and in_batch_window(now):
        raise Incomplete("ECS is in its batch window (00:30-02:30); run again after it")
    failures: list[str] = []

    def read(case_reference: str) -> None:
        client = ecs_factory()
        try:
            entries = client.get_case_ledger(case_reference)
        except errors.CaseNotFound:
            entries = []
        except errors.EcsError as exc:
            failures.append(f"{case_reference}: {type(exc).__name__}")
            return
        finally:
            client.close()
            close_old_connections()
        lines = [
            {
                "kind": e.kind,
                "key": e.refund_reference or e.payment_reference,
                "amount": e.amount_pence,
                "channel": e.channel,
                "at": e.effective_at.isoformat(),
            }
            for e in entries
        ]
        LedgerRead.objects.create(run=run, case_reference=case_reference, lines=lines, read_at=timezone.now())
        done[case_reference] = lines

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        list(pool.map(read, wanted))
    ReconciliationRun.objects.filter(pk=run.pk).update(ecs_calls=run.ecs_calls + len(wanted), cases_read=len(done))
    if failures:
        raise Incomplete(
            f"ECS could not be read for {len(failures)} case(s), e.g. {failures[0]}; resume the run when ECS answers"
        )
    return {
        case: [
            LedgerLine(
                line["kind"],
                line["key"],
                case,
                line["amount"],
                line["channel"],
                datetime.fromisoformat(line["at"]) if line.get("at") else None,
            )
            for line in lines
        ]
        for case, lines in done.items()
    }


def _deliveries(sides: Sides) -> dict[str, Delivery]:
    found: dict[str, Delivery] = {}
    for keys in _chunks([m.key for m in sides.ours]):
        for reference, d in {
            **deliveries.deliveries_of_payments(keys),
            **deliveries.deliveries_of_refunds(keys),
        }.items():
            found[reference] = Delivery(RULE_STATUS[d.status], d.created_at)
    return found


# The reconciliation rules' words for where a delivery stands.
RULE_STATUS = {
    deliveries.DeliveryStatus.QUEUED: "pending",
    deliveries.DeliveryStatus.SENT: "sent",
    deliveries.DeliveryStatus.EXCEPTION: "exception",
    deliveries.DeliveryStatus.RESOLVED: "resolved",
    deliveries.DeliveryStatus.NOT_QUEUED: "none",
}


def _lines_for_day(ledgers: dict[str, list[LedgerLine]], keys: set[str], day: date) -> list[LedgerLine]:
    """The ledger lines that belong to this day: ours (by reference, whatever date ECS gives
    them), and money taken by other channels that moved that day."""
    start, end = day_window(day)
    return [
        line
        for lines in ledgers.values()
        for line in lines
        if line.key in keys
        or (not line.key.startswith(("PP-", "RF-")) and line.at is not None and start <= line.at < end)
    ]


def reconcile_day(
    day: date,
    *,
    provider: ports.PaymentProvider,
    ecs_factory: Callable[[], EcsLedger],
    trigger: str,
    by: str = "",
    resume: bool = False,
    now: datetime | None = None,
) -> ReconciliationRun:
    now = now or timezone.now()
    began = monotonic_time.monotonic()  # finished_at = now + elapsed: one clock for the whole record
    previous = ReconciliationRun.objects.filter(day=day).exclude(status=ReconciliationRun.RUNNING).first()
    run = None
    if resume:
        run = ReconciliationRun.objects.filter(day=day, status=ReconciliationRun.INCOMPLETE).first()
    if run is None:
        run = ReconciliationRun.objects.create(day=day, started_at=now, trigger=trigger, by=by, previous=previous)
    else:
        ReconciliationRun.objects.filter(pk=run.pk).update(status=ReconciliationRun.RUNNING, problem="")
    try:
        sides = gather(day, provider)
        cases = {m.case_reference for m in sides.provider + sides.ours if m.case_reference}
        ledgers = read_ledgers(run, cases, ecs_factory, settings.RECONCILE_ECS_CONCURRENCY, now)
    except Incomplete as exc:
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.INCOMPLETE,
            problem=str(exc)[:300],
            finished_at=now + timedelta(seconds=monotonic_time.monotonic() - began),
        )
        log.warning("reconciliation incomplete", extra={"day": day.isoformat(), "problem": str(exc)})
        run.refresh_from_db()
        return run
    keys = {m.key for m in sides.ours + sides.provider}
    outcome = classify(
        sides.provider,
        sides.ours,
        _lines_for_day(ledgers, keys, day),
        _deliveries(sides),
        now,
        timedelta(minutes=settings.EXCEPTION_STUCK_AFTER_MINUTES),
    )
    _store(run, outcome, finished_at=now + timedelta(seconds=monotonic_time.monotonic() - began))
    run.refresh_from_db()
    log.info("reconciliation finished", extra={"day": day.isoformat(), "status": run.status, **run.counts})
    return run


def _store(run: ReconciliationRun, outcome: Outcome, finished_at: datetime) -> None:
    totals = outcome.totals
    with transaction.atomic():
        ReconciliationItem.objects.filter(run=run).delete()  # a resumed run stores its items once
        ReconciliationItem.objects.bulk_create(
            ReconciliationItem(
                run=run,
                cls=item.cls.value,
                kind=item.kind,
                key=item.key[:64],
                case_reference=item.case_reference,
                payment_reference=item.payment_reference[:64],
                provider_pence=item.provider_pence,
                penaltypay_pence=item.penaltypay_pence,
                ecs_pence=item.ecs_pence,
                detail=item.detail[:300],
            )
            for item in outcome.items
        )
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.BALANCED if outcome.balanced else ReconciliationRun.DIFFERENCES,
            provider_pence=totals.provider_pence,
            penaltypay_pence=totals.penaltypay_pence,
            ecs_pence=totals.ecs_pence,
            counts=outcome.counts(),
            finished_at=finished_at,
            problem="",
        )
