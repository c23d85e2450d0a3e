"""The in-memory ECS: cases, ledgers, receipt numbers and the fault plan, behind one lock."""

from __future__ import annotations

import hmac
import itertools
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from standins.ecs.faults import FaultPlan
from standins.ecs.model import (
    CASE_CLOSED,
    CASE_NOT_FOUND,
    CASE_TYPE_NOT_SUPPORTED,
    CLOSED_STATUSES,
    PAYABLE_CASE_TYPES,
    VALIDATION_ERROR,
    VRM_MISMATCH,
    Case,
    SimFault,
    SimLedgerEntry,
    london_today,
    settle_from_ledger,
    validate_case,
)
from standins.ecs.seed import seed_cases


class EcsState:
    """The in-memory ECS: cases, ledgers, receipt numbers and the fault plan.

    Every read and write of shared state happens under one lock. Injected
    delays happen outside it, so a hung call never blocks other callers.
    """

    def __init__(self, today: date | None = None, clock: Callable[[], datetime] | None = None):
        self._lock = threading.RLock()
        self._fixed_today = today
        self._clock = clock or (lambda: datetime.now(UTC))
        self._cases: dict[str, Case] = {}
        self._ledgers: dict[str, list[SimLedgerEntry]] = {}
        # Receipt numbers never restart, not even on reset: a service that kept a
        # receipt from before a reset must never see the same number again.
        self._receipts = itertools.count(1)
        self._plan = FaultPlan()
        self._plan_set_at = time.monotonic()  # the ..._for_seconds windows run from here
        self._rng = random.Random()
        self.today = today or london_today()
        self.reset()

    # -- lifecycle ----------------------------------------------------------
    def reset(self, today: date | None = None) -> None:
        """Reseed the cases (dates relative to today), empty the ledgers, clear faults."""
        with self._lock:
            self.today = today or self._fixed_today or london_today()
            self._cases.clear()
            self._ledgers.clear()
            for case in seed_cases(self.today):
                validate_case(case)  # a broken seed should fail loudly, not mislead a demo
                self._store_case(case)
            self._plan = FaultPlan()
            self._plan_set_at = time.monotonic()
            self._rng = random.Random()

    def put_case(self, case: Any) -> Case:
        """Add or replace a case. Its ledger is replaced by one opening entry for any amount paid."""
        case = Case.like(case)
        validate_case(case)
        with self._lock:
            return self._store_case(case)

    def _store_case(self, case: Case) -> Case:
        now = self._clock()
        if case.last_updated is None:
            case = replace(case, last_updated=now)
        entries: list[SimLedgerEntry] = []
        if case.amount_paid_pence:
            # Money ECS received before the simulator's story begins (by phone,
            # say) must be in the ledger too, or a later refund or status
            # recalculation would forget it.
            entries.append(
                SimLedgerEntry(
                    receipt_number=self._next_receipt(),
                    kind="PAYMENT",
                    payment_reference=f"OPENING-{case.reference}",
                    refund_reference=None,
                    amount_pence=case.amount_paid_pence,
                    effective_at=case.last_updated,
                    channel="PHONE",
                    recorded_at=case.last_updated,
                )
            )
        self._cases[case.reference] = case
        self._ledgers[case.reference] = entries
        return case

    def _next_receipt(self) -> str:
        return f"ECS{next(self._receipts):010d}"

    # -- faults -------------------------------------------------------------
    def set_plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._plan_set_at = time.monotonic()
            self._rng = random.Random(plan.seed)

    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan

    def roll(self, probability: float) -> bool:
        if probability <= 0:
            return False
        if probability >= 1:
            return True
        with self._lock:
            return self._rng.random() < probability

    def latency_seconds(self) -> float:
        with self._lock:
            plan = self._plan
            low, high = plan.latency_ms
            # The tail is only rolled when one is set, so seeded runs without one replay as before.
            if plan.tail_ms[1] > 0 and plan.tail_probability > 0 and self._rng.random() < plan.tail_probability:
                low, high = plan.tail_ms
            if high <= 0:
                return 0.0
            return self._rng.uniform(low, high) / 1000.0

    def _window_remaining(self, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        return max(0.0, self._plan_set_at + seconds - time.monotonic())

    def unavailable_now(self) -> bool:
        """SERVICE_UNAVAILABLE for this call: `unavailable`, or inside `unavailable_for_seconds`."""
        with self._lock:
            return self._plan.unavailable or self._window_remaining(self._plan.unavailable_for_seconds) > 0

    def windows(self) -> dict[str, float]:
        """Seconds left of each timed window (for the control API's health answer)."""
        with self._lock:
            return {
                "unavailable_remaining_seconds": round(self._window_remaining(self._plan.unavailable_for_seconds), 3),
                "refusing_remaining_seconds": round(
                    self._window_remaining(self._plan.refuse_connections_for_seconds), 3
                ),
            }

    # -- reads --------------------------------------------------------------
    def case(self, reference: str) -> Case | None:
        with self._lock:
            return self._cases.get(reference)

    def cases(self) -> list[Case]:
        with self._lock:
            return list(self._cases.values())

    def ledger(self, reference: str) -> list[SimLedgerEntry] | None:
        with self._lock:
            if reference not in self._cases:
                return None
            return list(self._ledgers.get(reference, ()))

    def ledgers(self) -> dict[str, list[SimLedgerEntry]]:
        with self._lock:
            return {ref: list(entries) for ref, entries in self._ledgers.items()}

    # -- the four operations --------------------------------------------------
    def get_case(self, reference: str, vrm: str) -> Case:
        with self._lock:
            case = self._cases.get(reference)
            if case is None:
                raise SimFault(CASE_NOT_FOUND, f"No case with reference {reference}.")
            # Constant-time comparison: the mark is the only secret protecting a case.
            if not hmac.compare_digest(case.vrm.encode(), vrm.encode()):
                raise SimFault(VRM_MISMATCH, f"The vehicle registration mark does not match case {reference}.")
            return case

    def get_ledger(self, reference: str) -> list[SimLedgerEntry]:
        entries = self.ledger(reference)
        if entries is None:
            raise SimFault(CASE_NOT_FOUND, f"No case with reference {reference}.")
        return entries

    def record_payment(
        self,
        reference: str,
        payment_reference: str,
        amount_pence: int,
        paid_at: datetime,
        channel: str,
        psp_reference: str,
    ) -> tuple[str, str]:
        if amount_pence <= 0:
            raise SimFault(VALIDATION_ERROR, "AmountPence must be greater than zero.")
        with self._lock:
            case = self._cases.get(reference)
            if case is None:
                raise SimFault(CASE_NOT_FOUND, f"No case with reference {reference}.")
            if case.case_type not in PAYABLE_CASE_TYPES:
                raise SimFault(
                    CASE_TYPE_NOT_SUPPORTED,
                    f"Case {reference} is of type {case.case_type}, which cannot take payments here.",
                )
            if case.status in CLOSED_STATUSES:
                raise SimFault(CASE_CLOSED, f"Case {reference} is {case.status} and closed to payments.")
            # Deliberately no duplicate check on payment_reference: real ECS is
            # not idempotent, and the client must cope with that.
            entry = SimLedgerEntry(
                receipt_number=self._next_receipt(),
                kind="PAYMENT",
                payment_reference=payment_reference,
                refund_reference=None,
                amount_pence=amount_pence,
                effective_at=paid_at,
                channel=channel,
                recorded_at=self._clock(),
                psp_reference=psp_reference,
            )
            return entry.receipt_number, self._append(case, entry)

    def record_refund(
        self, reference: str, payment_reference: str, refund_reference: str, amount_pence: int, refunded_at: datetime
    ) -> tuple[str, str]:
        if amount_pence <= 0:
            raise SimFault(VALIDATION_ERROR, "AmountPence must be greater than zero.")
        with self._lock:
            case = self._cases.get(reference)
            if case is None:
                raise SimFault(CASE_NOT_FOUND, f"No case with reference {reference}.")
            entries = self._ledgers[reference]
            payments = [e for e in entries if e.kind == "PAYMENT" and e.payment_reference == payment_reference]
            if not payments:
                raise SimFault(VALIDATION_ERROR, f"No payment {payment_reference} in the ledger of case {reference}.")
            refundable = sum(e.amount_pence for e in payments) - sum(
                e.amount_pence for e in entries if e.kind == "REFUND" and e.payment_reference == payment_reference
            )
            if amount_pence > refundable:
                raise SimFault(
                    VALIDATION_ERROR,
                    f"Refund of {amount_pence} pence exceeds the {refundable} pence left "
                    f"of payment {payment_reference}.",
                )
            # Not idempotent either: a repeated RefundReference is a second refund.
            entry = SimLedgerEntry(
                receipt_number=self._next_receipt(),
                kind="REFUND",
                payment_reference=payment_reference,
                refund_reference=refund_reference,
                amount_pence=amount_pence,
                effective_at=refunded_at,
                channel=payments[0].channel,  # a refund goes back the way the money came
                recorded_at=self._clock(),
            )
            return entry.receipt_number, self._append(case, entry)

    def _append(self, case: Case, entry: SimLedgerEntry) -> str:
        entries = self._ledgers[case.reference]
        entries.append(entry)
        paid, status = settle_from_ledger(case, entries)
        self._cases[case.reference] = replace(case, amount_paid_pence=paid, status=status, last_updated=self._clock())
        return status
