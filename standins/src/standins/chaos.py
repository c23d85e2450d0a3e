"""Shared machinery of the outbox chaos test (tests/ecs/test_outbox_chaos.py) and the
benchmarks (bench/): build a scenario of payments and refunds across many cases, put it
in the outbox, run real `penaltypay worker` processes against the ECS simulator, and
check the simulator's ledger afterwards: every event exactly once, in order per case.

Local runs only (a stand-in, never installed in production; it drives penaltypay, never the other way round). The
Django parts (`enqueue`) import Django lazily, so a bench script can plan and verify
before Django is configured.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from standins.ecs.model import COURT, OPEN, Case

REPO = Path(__file__).resolve().parents[3]  # the repository (standins/src/standins/chaos.py)


@dataclass(frozen=True)
class EventSpec:
    """One money event as the scenario means it to reach ECS."""

    case_reference: str
    kind: str  # PAYMENT | REFUND
    payment_reference: str
    refund_reference: str  # "" for a payment
    amount_pence: int
    effective_at: datetime

    @property
    def ledger_reference(self) -> str:
        return self.refund_reference or self.payment_reference

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.ledger_reference


@dataclass
class Scenario:
    cases: list[Case]
    events: list[EventSpec]  # in enqueue order (= outbox id order)
    # (kind, reference) of events meant to end as exceptions, with why
    deliberate_exceptions: dict[tuple[str, str], str] = field(default_factory=dict)
    # cases where nothing at all may reach the ledger
    untouchable_cases: set[str] = field(default_factory=set)
    # case reference -> fault code the simulator must answer for it (fault_for_case)
    fault_for_case: dict[str, str] = field(default_factory=dict)

    @property
    def payments(self) -> int:
        return sum(1 for e in self.events if e.kind == "PAYMENT")

    @property
    def refunds(self) -> int:
        return sum(1 for e in self.events if e.kind == "REFUND")


def chaos_case(reference: str, today: date, **overrides) -> Case:
    """A 7A (£80 reduced to £40 while the reduction is open) that is open today."""
    values = {
        "reference": reference,
        "case_type": "7A",
        "vrm": f"CX{reference[-5:]}",
        "vehicle_make": "FORD",
        "vehicle_colour": "BLUE",
        "issue_date": today - timedelta(days=10),
        "penalty_pence": 8000,
        "reduced_penalty_pence": 4000,
        "reduction_deadline": today + timedelta(days=20),
        "arrears_pence": 0,
        "arrears_from": None,
        "arrears_to": None,
        "pay_by_date": today + timedelta(days=40),
        "status": OPEN,
        "amount_paid_pence": 0,
    }
    values.update(overrides)
    return Case(**values)


def build_scenario(
    *,
    seed: int,
    cases: int,
    payments: int,
    refund_ratio: float,
    today: date,
    now: datetime,
    reference_base: int = 91_000_000,
    deliberate: bool = True,
) -> Scenario:
    """`payments` payments spread over `cases` cases, and refunds of about `refund_ratio` of
    them, each refund after its payment. Events of different cases are interleaved at random;
    within a case they keep the order they were made in. PaidAt is a moment in the last hour
    (the reduction is open, so the amounts apply).

    With `deliberate`, three cases are set up to stop for a person: one in COURT (CASE_CLOSED
    from ECS's own state), one answered CASE_CLOSED by an injected fault, and one whose last
    event is a refund larger than its payment (VALIDATION_ERROR). Each gets only events that
    are meant to stop or to go through before the stop, so nothing is left blocked behind them.
    """
    rng = random.Random(seed)
    all_cases = [chaos_case(f"{reference_base + i:08d}", today) for i in range(cases)]
    per_case: dict[str, list[EventSpec]] = {c.reference: [] for c in all_cases}
    scenario = Scenario(cases=all_cases, events=[])
    normal = list(all_cases)
    if deliberate and cases >= 6:
        court, injected, invalid = all_cases[0], all_cases[1], all_cases[2]
        normal = all_cases[3:]
        all_cases[0] = court = chaos_case(court.reference, today, status=COURT)
        scenario.cases = all_cases
        paid_at = now - timedelta(minutes=30)
        closed_pay = EventSpec(court.reference, "PAYMENT", f"PAY-{court.reference}-CLOSED", "", 4000, paid_at)
        per_case[court.reference].append(closed_pay)
        scenario.deliberate_exceptions[closed_pay.key] = "CASE_CLOSED (case in COURT)"
        scenario.untouchable_cases.add(court.reference)
        injected_pay = EventSpec(injected.reference, "PAYMENT", f"PAY-{injected.reference}-FAULT", "", 4000, paid_at)
        per_case[injected.reference].append(injected_pay)
        scenario.deliberate_exceptions[injected_pay.key] = "CASE_CLOSED (injected fault)"
        scenario.untouchable_cases.add(injected.reference)
        scenario.fault_for_case[injected.reference] = "CASE_CLOSED"
        good = EventSpec(invalid.reference, "PAYMENT", f"PAY-{invalid.reference}-OK", "", 1500, paid_at)
        too_much = EventSpec(
            invalid.reference,
            "REFUND",
            good.payment_reference,
            f"RFD-{invalid.reference}-TOOMUCH",
            good.amount_pence + 1,
            paid_at + timedelta(minutes=1),
        )
        per_case[invalid.reference] += [good, too_much]
        scenario.deliberate_exceptions[too_much.key] = "VALIDATION_ERROR (refund larger than its payment)"
    deliberate_payments = sum(1 for events in per_case.values() for e in events if e.kind == "PAYMENT")
    for n in range(max(0, payments - deliberate_payments)):
        case = rng.choice(normal)
        paid_at = now - timedelta(seconds=rng.randint(60, 3600))
        amount = rng.choice([500, 1000, 1500, 2000, 4000, 8000])
        payment = EventSpec(case.reference, "PAYMENT", f"PAY-{seed}-{n:06d}", "", amount, paid_at)
        per_case[case.reference].append(payment)
        if rng.random() < refund_ratio:
            refund_amount = rng.choice([amount, amount // 2, 100])
            per_case[case.reference].append(
                EventSpec(
                    case.reference,
                    "REFUND",
                    payment.payment_reference,
                    f"RFD-{seed}-{n:06d}",
                    refund_amount,
                    paid_at + timedelta(seconds=30),
                )
            )
    # Interleave the cases at random, keeping each case's own order; a refund may land
    # right behind its payment or long after it.
    queues = {ref: list(events) for ref, events in per_case.items() if events}
    while queues:
        ref = rng.choice(list(queues))
        scenario.events.append(queues[ref].pop(0))
        if not queues[ref]:
            del queues[ref]
    return scenario


def enqueue(events: Iterable[EventSpec], *, batch: int = 500) -> int:
    """Put events in the outbox the way the service does (enqueue_* inside a transaction),
    `batch` to a transaction. Returns how many were written."""
    from django.db import transaction

    from penaltypay.ecs.outbox import enqueue_payment, enqueue_refund

    written = 0
    events = list(events)
    for start in range(0, len(events), batch):
        with transaction.atomic():
            for e in events[start : start + batch]:
                if e.kind == "PAYMENT":
                    enqueue_payment(
                        case_reference=e.case_reference,
                        payment_reference=e.payment_reference,
                        amount_pence=e.amount_pence,
                        paid_at=e.effective_at,
                        channel="ONLINE",
                        psp_reference=f"psp-{e.payment_reference}",
                    )
                else:
                    enqueue_refund(
                        case_reference=e.case_reference,
                        payment_reference=e.payment_reference,
                        refund_reference=e.refund_reference,
                        amount_pence=e.amount_pence,
                        refunded_at=e.effective_at,
                    )
                written += 1
    return written


@dataclass
class Verdict:
    sent: int  # scenario events found in the ledger (once or more)
    payments_sent: int
    refunds_sent: int
    duplicates: int  # ledger lines beyond the first for one reference
    missing: int  # events meant to reach ECS that are not in the ledger
    order_violations: int  # ledger lines of a case that came before an event enqueued earlier
    unexpected: int  # ledger lines no event explains (or on a case that must stay untouched)
    details: list[str]

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.missing or self.order_violations or self.unexpected)


def verify(scenario: Scenario, ledgers: dict[str, list[tuple[str, str]]], *, max_details: int = 20) -> Verdict:
    """Check the simulator's ledgers ({case: [(kind, payment or refund reference), ...] oldest
    first}) against the scenario: exactly once, and in enqueue order per case."""
    details: list[str] = []
    position = {e.key: i for i, e in enumerate(scenario.events)}
    case_of = {e.key: e.case_reference for e in scenario.events}
    meant = {e.key for e in scenario.events if e.key not in scenario.deliberate_exceptions}
    seen: dict[tuple[str, str], int] = {}
    duplicates = order_violations = unexpected = 0
    for case_reference, entries in ledgers.items():
        last = -1
        for kind, reference in entries:
            key = (kind, reference)
            if reference.startswith("OPENING-"):
                continue
            if key not in position or case_of[key] != case_reference or case_reference in scenario.untouchable_cases:
                unexpected += 1
                details.append(f"unexpected ledger line {key} on case {case_reference}")
                continue
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                duplicates += 1
                details.append(f"duplicate: {key} on case {case_reference} (x{seen[key]})")
                continue
            if position[key] < last:
                order_violations += 1
                details.append(f"order: {key} on case {case_reference} came after a later event")
            last = max(last, position[key])
    missing_keys = sorted(meant - set(seen))
    for key in missing_keys[:max_details]:
        details.append(f"missing: {key} on case {case_of[key]}")
    for key in scenario.deliberate_exceptions:
        if key in seen:
            unexpected += 1
            details.append(f"an event meant to stop reached the ledger: {key}")
    sent_keys = set(seen) & meant
    return Verdict(
        sent=len(sent_keys),
        payments_sent=sum(1 for k in sent_keys if k[0] == "PAYMENT"),
        refunds_sent=sum(1 for k in sent_keys if k[0] == "REFUND"),
        duplicates=duplicates,
        missing=len(missing_keys),
        order_violations=order_violations,
        unexpected=unexpected,
        details=details[:max_details],
    )


# --- worker processes ------------------------------------------------------------------------------


def worker_env(
    *,
    database_url: str,
    ecs_url: str,
    write_timeout: float,
    lease_seconds: float,
    backoff_base: float = 2.0,
    backoff_cap: float = 300.0,
    breaker_min_open: float = 5.0,
    breaker_max_open: float = 120.0,
    settle_seconds: float = 60.0,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a `penaltypay worker` for a test or benchmark run."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "penaltypay.settings",
            "PENALTYPAY_ENV": "test",
            "DATABASE_URL": database_url,
            "ECS_URL": ecs_url,
            "ECS_WRITE_TIMEOUT": str(write_timeout),
            "ECS_OUTBOX_LEASE_SECONDS": str(lease_seconds),
            "ECS_BACKOFF_BASE_SECONDS": str(backoff_base),
            "ECS_BACKOFF_CAP_SECONDS": str(backoff_cap),
            "ECS_BREAKER_MIN_OPEN_SECONDS": str(breaker_min_open),
            "ECS_BREAKER_MAX_OPEN_SECONDS": str(breaker_max_open),
            "ECS_UNKNOWN_OUTCOME_SETTLE_SECONDS": str(settle_seconds),
            "ECS_RESPECT_BATCH_WINDOW": "0",  # a run at 01:00 must not wait for 02:30
            "PAYMENT_RECHECK_AFTER_SECONDS": "86400",  # no payments here: keep the re-checker idle
            "LOG_LEVEL": env.get("CHAOS_WORKER_LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    env.update(extra or {})
    return env


class Workers:
    """`penaltypay worker` subprocesses, each logging to its own file."""

    def __init__(
        self, env: dict[str, str], log_dir: Path, *, concurrency: int, interval: float = 3600, cwd: Path = REPO
    ):
        self.interval = interval  # seconds between the worker's periodic rounds (re-check and the rest)
        self.cwd = cwd  # another release's tree runs its own code (tests/operations/test_release.py)
        self.env = env
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.concurrency = concurrency
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}

    def start(self, name: str) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop_all
        self._logs[name] = log
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "penaltypay.cli",
                "worker",
                "--concurrency",
                str(self.concurrency),
                "--interval",
                str(self.interval),
            ],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL: the worker dies mid-whatever, leases and all."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def alive(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def stop_all(self, timeout: float = 20.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in self._logs.values():
            log.close()

    def tail(self, lines: int = 15) -> str:
        out = []
        for name in self.processes:
            path = self.log_dir / f"{name}.log"
            text = path.read_text(errors="replace").splitlines() if path.exists() else []
            out.append(f"--- {name} (exit {self.processes[name].poll()}) ---")
            out.extend(text[-lines:])
        return "\n".join(out)
