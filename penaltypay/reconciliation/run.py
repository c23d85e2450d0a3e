"""Reconciling one day: read the provider (every page of its search), our records and the
ECS ledger of every case touched (politely: a few at a time, never in the batch window,
resuming a run ECS dropped out of), class every movement (`rules.classify`) and store the
run. A run that could not read everything is `incomplete`, never presented as balanced."""

from __future__ import annotations

import logging
import time as monotonic_time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from penaltypay.ecs import deliveries, errors
from penaltypay.ecs.delivery import in_batch_window
from penaltypay.ecs.ports import EcsLedger
from penaltypay.payments import ports
from penaltypay.reconciliation import bank
from penaltypay.reconciliation.models import LedgerRead, ReconciliationItem, ReconciliationRun
from penaltypay.reconciliation.rules import (
    Delivery,
    LedgerLine,
    Outcome,
    Settlement,
    classify,
    classify_bank,
)
from penaltypay.reconciliation.sides import Incomplete, Sides, cases_of, chunks, day_window, gather

log = logging.getLogger("penaltypay.reconciliation")


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
        try:
            LedgerRead.objects.create(run=run, case_reference=case_reference, lines=lines, read_at=timezone.now())
        finally:
            connection.close()  # this thread's own: back to the pool before the thread ends (ADR 0029)
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
    for keys in chunks([m.key for m in sides.ours]):
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
        cases = cases_of(sides)
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
    loaded = bank.covered(day)
    outcome.items += classify_bank(day.isoformat(), sides.settlement, bank.lines_on(day), loaded=loaded)
    _store(
        run,
        outcome,
        finished_at=now + timedelta(seconds=monotonic_time.monotonic() - began),
        settlement=sides.settlement,
        bank_loaded=loaded,
    )
    run.refresh_from_db()
    log.info("reconciliation finished", extra={"day": day.isoformat(), "status": run.status, **run.counts})
    return run


def _store(
    run: ReconciliationRun, outcome: Outcome, finished_at: datetime, settlement: Settlement, bank_loaded: bool
) -> None:
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
                bank_pence=item.bank_pence,
                detail=item.detail[:300],
            )
            for item in outcome.items
        )
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.BALANCED if outcome.balanced else ReconciliationRun.DIFFERENCES,
            provider_pence=totals.provider_pence,
            penaltypay_pence=totals.penaltypay_pence,
            ecs_pence=totals.ecs_pence,
            bank_pence=totals.bank_pence,
            fees_pence=settlement.fees_pence,
            settled_net_pence=settlement.net_pence,
            bank_loaded=bank_loaded,
            counts=outcome.counts(),
            finished_at=finished_at,
            problem="",
        )
