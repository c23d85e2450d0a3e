"""A stand-in for the legacy Enforcement Case System (ECS): a real SOAP 1.1 server over HTTP.

Why a real server rather than a mock: the ECS client, the outbox worker and the
end-to-end tests must meet the same failure modes the ICD warns about (faults,
timeouts after a write took effect, reset connections, non-idempotent writes)
at the HTTP and XML level, exactly as zeep will see them in production.

What it serves (one port):

* ``POST /ecs/v1`` - the four SOAP operations of ``enforcement-case-service.wsdl``
  (document/literal wrapped, namespace ``urn:enforcement-case-system:v1``).
  Every request body is validated against the WSDL's own XML schema.
* ``GET /ecs/v1?wsdl`` - the WSDL, with ``soap:address`` pointing at this server.
* ``/_control/...`` - a small JSON API for tests and demos: read ledgers, add
  cases, inject faults (see FaultPlan), reset. Control calls are never subject to
  injected faults (otherwise a test could not switch an outage off again).

A second, optional port serves the control API alone (``start(control_port=0)``,
``--control-port``). It exists for ``refuse_connections``: that fault closes the
SOAP port's listening socket, so clients get a real "connection refused" (nothing
is sent), and the control API on that port goes with it.

Run it on its own::

    python -m penaltypay.sandbox.ecs_simulator --port 8081 --control-port 8091 \
        --faults '{"latency_ms": [200, 800], "tail_ms": 3000, "tail_probability": 0.01}'
    curl -X POST localhost:8091/_control/faults -d '{"refuse_connections": true}'
    curl -X POST localhost:8091/_control/faults -d '{"unavailable_for_seconds": 30}'
    curl localhost:8091/_control/ledger

or embed it (tests)::

    sim = EcsSimulator()
    url = sim.start()          # http://127.0.0.1:<port>/ecs/v1
    sim.set_faults(unavailable=True)
    sim.stop()

Pure Python plus lxml; it does not import Django, so it runs as its own process.
It deliberately does not import the ECS client either: it is the *other* system,
with its own reading of the ICD, so the client's tests are not marking their own
homework.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hmac
import itertools
import json
import logging
import random
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from lxml import etree

from penaltypay.cases.domain import (
    CASE_STATUSES,
    COURT,
    DEBT_RECOVERY,
    LONDON,
    NO_PAYMENT_REQUIRED,
    OPEN,
    PAID,
    PART_PAID,
    PAYABLE_CASE_TYPES,
    Case,
)
from penaltypay.sandbox.ecs_seed import seed_cases

logger = logging.getLogger(__name__)

NS = "urn:enforcement-case-system:v1"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
ENDPOINT_PATH = "/ecs/v1"
CONTROL_PREFIX = "/_control"

# Fault codes of the WSDL's EcsFault, and which side of the wire each blames
# (SOAP 1.1 faultcode soap:Client = "do not resend as is", soap:Server = "our problem").
CASE_NOT_FOUND = "CASE_NOT_FOUND"
VRM_MISMATCH = "VRM_MISMATCH"
CASE_CLOSED = "CASE_CLOSED"
CASE_TYPE_NOT_SUPPORTED = "CASE_TYPE_NOT_SUPPORTED"
VALIDATION_ERROR = "VALIDATION_ERROR"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"
FAULT_CODES = (
    CASE_NOT_FOUND, VRM_MISMATCH, CASE_CLOSED, CASE_TYPE_NOT_SUPPORTED,
    VALIDATION_ERROR, SERVICE_UNAVAILABLE, INTERNAL_ERROR,
)
_SERVER_SIDE_CODES = {SERVICE_UNAVAILABLE, INTERNAL_ERROR}

CLOSED_STATUSES = (NO_PAYMENT_REQUIRED, DEBT_RECOVERY, COURT)
# Statuses ECS derives from the ledger; the closed ones are set by ECS's own
# processes (escalation, cancellation) and a ledger write never changes them.
_LEDGER_DRIVEN_STATUSES = (OPEN, PART_PAID, PAID)
WRITE_OPERATIONS = ("RecordPayment", "RecordRefund")
OPERATIONS = ("GetCase", "GetCaseLedger") + WRITE_OPERATIONS

MAX_BODY_BYTES = 1024 * 1024
# An idle keep-alive connection is closed after this long, like most servers do.
IDLE_CONNECTION_TIMEOUT = 30.0


def default_wsdl_path() -> Path:
    """The repository's copy of the ECS contract (package data of penaltypay.ecs)."""
    return Path(str(resources.files("penaltypay.ecs").joinpath("wsdl", "enforcement-case-service.wsdl")))


def london_today() -> date:
    return datetime.now(LONDON).date()


class SimFault(Exception):
    """A business outcome the simulator answers as an EcsFault SOAP fault."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --------------------------------------------------------------------------
# Fault injection
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class FaultPlan:
    """What misbehaviour to inject into SOAP calls. Replaced whole on every change.

    Order of application to one SOAP call (the request body is always read first):
    latency (or the tail) -> ``outage`` -> ``reset_before_commit`` -> ``http_500_without_fault``
    -> ``unavailable`` / ``unavailable_for_seconds`` -> schema validation -> ``fault_for_case``
    -> the operation runs ("commit") -> for writes only: ``timeout_after_commit``, ``reset_after_commit``.

    ``refuse_connections`` / ``refuse_connections_for_seconds`` act before all of that, at the
    TCP level: the SOAP port stops listening, so a client's connect() is refused and nothing
    is sent (the ECS client's EcsUnreachable). Control calls keep working on the separate
    control port, if the simulator has one (``start(control_port=...)``, ``--control-port``).
    The ``..._for_seconds`` windows run from the moment the plan is set and end by themselves.
    """

    # Delay before answering, uniformly drawn from [min, max] milliseconds.
    latency_ms: tuple[int, int] = (0, 0)
    # The slow tail ("p99 about 3 s"): with probability `tail_probability` a call waits a
    # delay drawn from `tail_ms` ([min, max] ms) instead of `latency_ms`. Off while tail_ms is 0.
    tail_ms: tuple[int, int] = (0, 0)
    tail_probability: float = 0.01
    # Batch window / maintenance: every call answers SERVICE_UNAVAILABLE.
    unavailable: bool = False
    # ... for this many seconds from when the plan is set, then healthy again by itself (0 = off).
    unavailable_for_seconds: float = 0.0
    # A whole outage at the TCP level: the SOAP port refuses connections until the plan changes.
    refuse_connections: bool = False
    # ... for this many seconds from when the plan is set, then listening again by itself (0 = off).
    refuse_connections_for_seconds: float = 0.0
    # Read the request, then close the connection without a byte of answer.
    outage: bool = False
    # Answer this fault code for any call that names this case reference.
    fault_for_case: dict[str, str] = field(default_factory=dict)
    # Probability of an HTTP 500 with an HTML body and no SOAP fault (a proxy's error page).
    http_500_without_fault: float = 0.0
    # Probability, per write, of applying it and then not answering for `hang_seconds`.
    timeout_after_commit: float = 0.0
    # Probability of resetting the connection (TCP RST) before anything is applied.
    reset_before_commit: float = 0.0
    # Probability, per write, of applying it and then resetting the connection.
    reset_after_commit: float = 0.0
    # How long a "timeout" hangs before the connection is closed; reset()/stop() cut it short.
    hang_seconds: float = 35.0
    # Seed for the dice, so that a flaky-by-design run can be replayed.
    seed: int | None = None

    _PROBABILITIES = ("http_500_without_fault", "timeout_after_commit", "reset_before_commit", "reset_after_commit",
                      "tail_probability")
    _SECONDS = ("hang_seconds", "unavailable_for_seconds", "refuse_connections_for_seconds")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultPlan":
        """Build a plan from JSON-like input; raises ValueError with a readable message."""
        if not isinstance(data, dict):
            raise ValueError("the fault plan must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        kwargs: dict[str, Any] = {}
        for name in ("latency_ms", "tail_ms"):
            if name in data:
                kwargs[name] = _parse_latency(data[name], name)
        for name in ("unavailable", "outage", "refuse_connections"):
            if name in data:
                if not isinstance(data[name], bool):
                    raise ValueError(f"{name} must be true or false")
                kwargs[name] = data[name]
        if "fault_for_case" in data:
            mapping = data["fault_for_case"] or {}
            if not isinstance(mapping, dict):
                raise ValueError("fault_for_case must be an object {case reference: fault code}")
            for reference, code in mapping.items():
                if code not in FAULT_CODES:
                    raise ValueError(f"fault_for_case[{reference}]: unknown fault code {code!r}")
            kwargs["fault_for_case"] = {str(k): str(v) for k, v in mapping.items()}
        for name in cls._PROBABILITIES:
            if name in data:
                kwargs[name] = _parse_probability(name, data[name])
        for name in cls._SECONDS:
            if name in data:
                value = data[name]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{name} must be a number >= 0")
                kwargs[name] = float(value)
        for forever, window in (("unavailable", "unavailable_for_seconds"),
                                ("refuse_connections", "refuse_connections_for_seconds")):
            if kwargs.get(forever) and kwargs.get(window):
                raise ValueError(f"set {forever} (until changed) or {window} (a window), not both")
        if "seed" in data:
            if data["seed"] is not None and (isinstance(data["seed"], bool) or not isinstance(data["seed"], int)):
                raise ValueError("seed must be an integer or null")
            kwargs["seed"] = data["seed"]
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": list(self.latency_ms),
            "tail_ms": list(self.tail_ms),
            "tail_probability": self.tail_probability,
            "unavailable": self.unavailable,
            "unavailable_for_seconds": self.unavailable_for_seconds,
            "refuse_connections": self.refuse_connections,
            "refuse_connections_for_seconds": self.refuse_connections_for_seconds,
            "outage": self.outage,
            "fault_for_case": dict(self.fault_for_case),
            "http_500_without_fault": self.http_500_without_fault,
            "timeout_after_commit": self.timeout_after_commit,
            "reset_before_commit": self.reset_before_commit,
            "reset_after_commit": self.reset_after_commit,
            "hang_seconds": self.hang_seconds,
            "seed": self.seed,
        }


def _parse_latency(value: Any, name: str = "latency_ms") -> tuple[int, int]:
    """200 -> (200, 200); [200, 800] or {"min": 200, "max": 800} -> (200, 800)."""
    if isinstance(value, dict):
        value = [value.get("min", 0), value.get("max", value.get("min", 0))]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        low, high = value
    else:
        raise ValueError(f"{name} must be a number of milliseconds or [min, max]")
    if low < 0 or high < low:
        raise ValueError(f"{name} must satisfy 0 <= min <= max")
    return int(low), int(high)


def _parse_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability between 0 and 1")
    return float(value)


# --------------------------------------------------------------------------
# State: cases and their ledgers
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class SimLedgerEntry:
    """One ledger line as the simulator stores it (PspReference is kept for inspection only)."""

    receipt_number: str
    kind: str  # PAYMENT | REFUND
    payment_reference: str
    refund_reference: str | None
    amount_pence: int
    effective_at: datetime
    channel: str
    recorded_at: datetime
    psp_reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt_number": self.receipt_number,
            "kind": self.kind,
            "payment_reference": self.payment_reference,
            "refund_reference": self.refund_reference,
            "amount_pence": self.amount_pence,
            "effective_at": self.effective_at.isoformat(),
            "channel": self.channel,
            "recorded_at": self.recorded_at.isoformat(),
            "psp_reference": self.psp_reference,
        }


def amount_due_before_payments(case: Case, at: datetime) -> int:
    """The ICD's amount due at `at`, before subtracting what was paid.

    The reduced amount applies up to and including ReductionDeadline, compared
    as a Europe/London calendar date (a payment at 23:30 BST on the deadline is
    on time even though it is already the next day in UTC).
    """
    on_time = case.reduction_deadline is not None and at.astimezone(LONDON).date() <= case.reduction_deadline
    penalty = case.reduced_penalty_pence if on_time else case.penalty_pence
    return penalty + case.arrears_pence


def settle_from_ledger(case: Case, entries: list[SimLedgerEntry]) -> tuple[int, str]:
    """(AmountPaidPence, Status) implied by the ledger.

    "What was due" is judged at the moment of the most recent payment still in
    the ledger: that is the payment that did or did not complete the case.
    Closed statuses (court, debt recovery, no payment required) are ECS's own
    decisions and a ledger write never reopens or closes them.
    """
    paid = sum(e.amount_pence for e in entries if e.kind == "PAYMENT")
    paid -= sum(e.amount_pence for e in entries if e.kind == "REFUND")
    paid = max(paid, 0)
    if case.status not in _LEDGER_DRIVEN_STATUSES:
        return paid, case.status
    payments = [e for e in entries if e.kind == "PAYMENT"]
    if paid == 0 or not payments:
        return paid, OPEN
    latest = max(payments, key=lambda e: e.effective_at)
    return paid, (PAID if paid >= amount_due_before_payments(case, latest.effective_at) else PART_PAID)


def _validate_case(case: Case) -> None:
    """Reject a case ECS itself could never hold (raises ValueError)."""
    if not re.fullmatch(r"[0-9]{8}", case.reference or ""):
        raise ValueError("reference must be 8 digits")
    if not re.fullmatch(r"[0-9A-Z]{1,4}", case.case_type or ""):
        raise ValueError("case_type must be 1-4 upper-case letters or digits")
    if not re.fullmatch(r"[A-Z0-9]{1,7}", case.vrm or ""):
        raise ValueError("vrm must be 1-7 upper-case letters or digits, no spaces")
    if case.status not in CASE_STATUSES:
        raise ValueError(f"status must be one of {', '.join(CASE_STATUSES)}")
    for name in ("penalty_pence", "reduced_penalty_pence", "arrears_pence", "amount_paid_pence"):
        value = getattr(case, name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 99_999_999:
            raise ValueError(f"{name} must be a whole number of pence between 0 and 99999999")
    if case.reduced_penalty_pence > case.penalty_pence:
        raise ValueError("reduced_penalty_pence must not exceed penalty_pence")
    if (case.reduction_deadline is None) != (case.reduced_penalty_pence == case.penalty_pence):
        raise ValueError("a reduction (reduced < penalty) needs a reduction_deadline, and only then")
    if (case.arrears_from is None) != (case.arrears_to is None):
        raise ValueError("arrears_from and arrears_to go together")
    if case.last_updated is not None and case.last_updated.tzinfo is None:
        raise ValueError("last_updated must be timezone-aware")


class EcsState:
    """The in-memory ECS: cases, ledgers, receipt numbers and the fault plan.

    Every read and write of shared state happens under one lock. Injected
    delays happen outside it, so a hung call never blocks other callers.
    """

    def __init__(self, today: date | None = None, clock: Callable[[], datetime] | None = None):
        self._lock = threading.RLock()
        self._fixed_today = today
        self._clock = clock or (lambda: datetime.now(timezone.utc))
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
                _validate_case(case)  # a broken seed should fail loudly, not mislead a demo
                self._store_case(case)
            self._plan = FaultPlan()
            self._plan_set_at = time.monotonic()
            self._rng = random.Random()

    def put_case(self, case: Case) -> Case:
        """Add or replace a case. Its ledger is replaced by one opening entry for any amount paid."""
        _validate_case(case)
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
            entries.append(SimLedgerEntry(
                receipt_number=self._next_receipt(),
                kind="PAYMENT",
                payment_reference=f"OPENING-{case.reference}",
                refund_reference=None,
                amount_pence=case.amount_paid_pence,
                effective_at=case.last_updated,
                channel="PHONE",
                recorded_at=case.last_updated,
            ))
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
                    self._window_remaining(self._plan.refuse_connections_for_seconds), 3),
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

    def record_payment(self, reference: str, payment_reference: str, amount_pence: int,
                       paid_at: datetime, channel: str, psp_reference: str) -> tuple[str, str]:
        if amount_pence <= 0:
            raise SimFault(VALIDATION_ERROR, "AmountPence must be greater than zero.")
        with self._lock:
            case = self._cases.get(reference)
            if case is None:
                raise SimFault(CASE_NOT_FOUND, f"No case with reference {reference}.")
            if case.case_type not in PAYABLE_CASE_TYPES:
                raise SimFault(CASE_TYPE_NOT_SUPPORTED,
                               f"Case {reference} is of type {case.case_type}, which cannot take payments here.")
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

    def record_refund(self, reference: str, payment_reference: str, refund_reference: str,
                      amount_pence: int, refunded_at: datetime) -> tuple[str, str]:
        if amount_pence <= 0:
            raise SimFault(VALIDATION_ERROR, "AmountPence must be greater than zero.")
        with self._lock:
            case = self._cases.get(reference)
            if case is None:
                raise SimFault(CASE_NOT_FOUND, f"No case with reference {reference}.")
            entries = self._ledgers[reference]
            payments = [e for e in entries if e.kind == "PAYMENT" and e.payment_reference == payment_reference]
            if not payments:
                raise SimFault(VALIDATION_ERROR,
                               f"No payment {payment_reference} in the ledger of case {reference}.")
            refundable = sum(e.amount_pence for e in payments) - sum(
                e.amount_pence for e in entries if e.kind == "REFUND" and e.payment_reference == payment_reference
            )
            if amount_pence > refundable:
                raise SimFault(VALIDATION_ERROR,
                               f"Refund of {amount_pence} pence exceeds the {refundable} pence left "
                               f"of payment {payment_reference}.")
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
        self._cases[case.reference] = replace(case, amount_paid_pence=paid, status=status,
                                              last_updated=self._clock())
        return status


# --------------------------------------------------------------------------
# XML: schema, request parsing, response building
# --------------------------------------------------------------------------

class _Contract:
    """The WSDL and the XML schema extracted from it, loaded once."""

    def __init__(self, wsdl_path: Path):
        self.wsdl_bytes = wsdl_path.read_bytes()
        wsdl = etree.fromstring(self.wsdl_bytes, _safe_parser())
        schema_el = wsdl.find(f".//{{{XS_NS}}}schema")
        # The schema refers to types as "ecs:..." but the ecs prefix is declared
        # on wsdl:definitions, outside xs:schema. Rebuild the root with every
        # in-scope namespace declared on it so the QName references resolve.
        root = etree.Element(schema_el.tag, attrib=dict(schema_el.attrib), nsmap=schema_el.nsmap)
        for child in schema_el:
            root.append(copy.deepcopy(child))
        self.schema = etree.XMLSchema(root)
        # lxml keeps the last error log on the schema object: not safe to share
        # between threads without a lock.
        self._schema_lock = threading.Lock()

    def schema_errors(self, element: etree._Element) -> list[str]:
        """Human-readable schema violations, free of the offending values.

        lxml's own messages quote the rejected value (which could be a
        vehicle mark), and fault messages end up in the client's logs.
        """
        with self._schema_lock:
            if self.schema.validate(element):
                return []
            problems = []
            for error in self.schema.error_log:
                match = re.search(r"Element '(?:\{[^}]*\})?([^']+)'", error.message)
                where = match.group(1) if match else "request"
                problems.append(f"{where}: {error.type_name}")
            return problems or ["schema violation"]

    def wsdl_for(self, address: str) -> bytes:
        doc = etree.fromstring(self.wsdl_bytes, _safe_parser(keep_comments=True))
        for node in doc.iter(f"{{{WSDL_SOAP_NS}}}address"):
            node.set("location", address)
        return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


def _safe_parser(keep_comments: bool = False) -> etree.XMLParser:
    # One parser per call (lxml parsers must not be shared between threads),
    # with DTD loading, entity expansion and network access all off.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=not keep_comments, remove_pis=True)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _text(element: etree._Element, name: str) -> str | None:
    child = element.find(_q(name))
    return None if child is None else (child.text or "").strip()


def _parse_datetime(value: str) -> datetime:
    """An xs:dateTime; one without a zone is read as Europe/London wall-clock time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SimFault(VALIDATION_ERROR, "A dateTime value could not be read.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LONDON)


def parse_request(body: bytes, soap_action: str | None, contract: _Contract) -> tuple[str, etree._Element]:
    """Return (operation name, body element) of a SOAP 1.1 request, or raise SimFault(VALIDATION_ERROR)."""
    try:
        root = etree.fromstring(body, _safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        raise SimFault(VALIDATION_ERROR, "The request is not well-formed XML.") from None
    if root.getroottree().docinfo.doctype:
        raise SimFault(VALIDATION_ERROR, "Document type declarations are not accepted.")
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise SimFault(VALIDATION_ERROR, "The request is not a SOAP 1.1 envelope.")
    soap_body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if soap_body is None:
        raise SimFault(VALIDATION_ERROR, "The SOAP envelope has no Body.")
    payload = [child for child in soap_body if isinstance(child.tag, str)]
    if len(payload) != 1:
        raise SimFault(VALIDATION_ERROR, "The SOAP Body must hold exactly one operation element.")
    element = payload[0]
    qname = etree.QName(element)
    if qname.namespace != NS or qname.localname not in OPERATIONS:
        raise SimFault(VALIDATION_ERROR, f"Unknown operation {qname.localname}.")
    operation = qname.localname
    # SOAPAction is optional in SOAP 1.1 ("" means "see the body"); when given, it must agree.
    action = (soap_action or "").strip().strip('"')
    if action and action != f"{NS}#{operation}":
        raise SimFault(VALIDATION_ERROR, f"SOAPAction does not match the {operation} body element.")
    problems = contract.schema_errors(element)
    if problems:
        raise SimFault(VALIDATION_ERROR, f"{operation} does not match the schema: " + "; ".join(problems[:5]))
    return operation, element


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS, "ecs": NS})
    body = etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body")
    return env, body


def _add(parent: etree._Element, name: str, value: Any) -> None:
    """Append <ecs:name>value</ecs:name>; None means "leave the optional element out"."""
    if value is None:
        return
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    etree.SubElement(parent, _q(name)).text = text


def _case_element(parent: etree._Element, case: Case) -> None:
    el = etree.SubElement(parent, _q("Case"))
    # Order matters: the schema's xs:sequence.
    _add(el, "CaseReference", case.reference)
    _add(el, "CaseType", case.case_type)
    _add(el, "VehicleRegistrationMark", case.vrm)
    _add(el, "VehicleMake", case.vehicle_make)
    _add(el, "VehicleColour", case.vehicle_colour)
    _add(el, "IssueDate", case.issue_date)
    _add(el, "PenaltyAmountPence", case.penalty_pence)
    _add(el, "ReducedPenaltyAmountPence", case.reduced_penalty_pence)
    _add(el, "ReductionDeadline", case.reduction_deadline)
    _add(el, "ArrearsAmountPence", case.arrears_pence)
    _add(el, "ArrearsFrom", case.arrears_from)
    _add(el, "ArrearsTo", case.arrears_to)
    _add(el, "PayByDate", case.pay_by_date)
    _add(el, "Status", case.status)
    _add(el, "AmountPaidPence", case.amount_paid_pence)
    _add(el, "LastUpdated", case.last_updated)


def _ledger_element(parent: etree._Element, entry: SimLedgerEntry) -> None:
    el = etree.SubElement(parent, _q("Entry"))
    _add(el, "ReceiptNumber", entry.receipt_number)
    _add(el, "Kind", entry.kind)
    _add(el, "PaymentReference", entry.payment_reference)
    _add(el, "RefundReference", entry.refund_reference)
    _add(el, "AmountPence", entry.amount_pence)
    _add(el, "EffectiveAt", entry.effective_at)
    _add(el, "Channel", entry.channel)
    _add(el, "RecordedAt", entry.recorded_at)


def run_operation(state: EcsState, operation: str, element: etree._Element) -> etree._Element:
    """Apply one validated operation to the state; return the response's body element."""
    reference = _text(element, "CaseReference")
    response = etree.Element(_q(f"{operation}Response"), nsmap={"ecs": NS})
    if operation == "GetCase":
        _case_element(response, state.get_case(reference, _text(element, "VehicleRegistrationMark")))
    elif operation == "GetCaseLedger":
        for entry in state.get_ledger(reference):
            _ledger_element(response, entry)
    elif operation == "RecordPayment":
        receipt, status = state.record_payment(
            reference,
            payment_reference=_text(element, "PaymentReference"),
            amount_pence=int(_text(element, "AmountPence")),
            paid_at=_parse_datetime(_text(element, "PaidAt")),
            channel=_text(element, "Channel"),
            psp_reference=_text(element, "PspReference"),
        )
        _add(response, "ReceiptNumber", receipt)
        _add(response, "CaseStatus", status)
    elif operation == "RecordRefund":
        receipt, status = state.record_refund(
            reference,
            payment_reference=_text(element, "PaymentReference"),
            refund_reference=_text(element, "RefundReference"),
            amount_pence=int(_text(element, "AmountPence")),
            refunded_at=_parse_datetime(_text(element, "RefundedAt")),
        )
        _add(response, "ReceiptNumber", receipt)
        _add(response, "CaseStatus", status)
    else:  # parse_request only lets known operations through
        raise SimFault(VALIDATION_ERROR, f"Unknown operation {operation}.")
    return response


def response_envelope(payload: etree._Element) -> bytes:
    env, body = _envelope()
    body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(code: str, message: str) -> bytes:
    """A SOAP 1.1 fault: faultcode/faultstring/detail are unqualified, per the SOAP 1.1 spec."""
    env, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soap:Server" if code in _SERVER_SIDE_CODES else "soap:Client"
    etree.SubElement(fault, "faultstring").text = message
    detail = etree.SubElement(fault, "detail")
    ecs_fault = etree.SubElement(detail, _q("EcsFault"))
    etree.SubElement(ecs_fault, _q("Code")).text = code
    etree.SubElement(ecs_fault, _q("Message")).text = message
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


# --------------------------------------------------------------------------
# JSON for the control API
# --------------------------------------------------------------------------

_DATE_FIELDS = {"issue_date", "reduction_deadline", "arrears_from", "arrears_to", "pay_by_date"}


def case_to_json(case: Case) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(Case):
        value = getattr(case, f.name)
        out[f.name] = value.isoformat() if isinstance(value, (date, datetime)) else value
    return out


def case_from_json(data: Any) -> Case:
    """A Case from the control API's JSON. Sensible defaults for what a test rarely cares about."""
    if not isinstance(data, dict):
        raise ValueError("each case must be a JSON object")
    known = {f.name for f in fields(Case)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown case field(s): {', '.join(unknown)}")
    required = ("reference", "case_type", "vrm", "vehicle_make", "vehicle_colour",
                "issue_date", "penalty_pence", "pay_by_date")
    missing = [name for name in required if data.get(name) in (None, "")]
    if missing:
        raise ValueError(f"case is missing: {', '.join(missing)}")
    values = dict(data)
    values.setdefault("reduced_penalty_pence", values["penalty_pence"])
    values.setdefault("arrears_pence", 0)
    values.setdefault("status", OPEN)
    values.setdefault("amount_paid_pence", 0)
    for name in ("reduction_deadline", "arrears_from", "arrears_to", "last_updated"):
        values.setdefault(name, None)
    for name in _DATE_FIELDS:
        if values[name] is not None:
            try:
                values[name] = date.fromisoformat(values[name])
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a date YYYY-MM-DD") from None
    if values["last_updated"] is not None:
        try:
            values["last_updated"] = datetime.fromisoformat(values["last_updated"])
        except (TypeError, ValueError):
            raise ValueError("last_updated must be an ISO 8601 date-time with an offset") from None
    for name in ("reference", "case_type", "vrm", "vehicle_make", "vehicle_colour", "status"):
        if not isinstance(values[name], str):
            raise ValueError(f"{name} must be a string")
    case = Case(**values)
    _validate_case(case)
    return case


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that can reset connections and cut them all on stop."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, simulator: "EcsSimulator", *, control_only: bool = False):
        self.simulator = simulator
        # The separate control port: /_control only, never refuses (so an outage can be ended).
        self.control_only = control_only
        self._open: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        self._to_reset: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self._conn_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def mark_for_reset(self, request: socket.socket) -> None:
        with self._conn_lock:
            self._to_reset.add(request)

    def shutdown_request(self, request):
        with self._conn_lock:
            self._open.discard(request)
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            # SO_LINGER with a zero timeout makes close() send RST instead of
            # FIN; skipping shutdown(SHUT_WR) avoids sending a FIN first.
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_request(request)
            return
        super().shutdown_request(request)

    def cut_all_connections(self, keep: socket.socket | None = None) -> None:
        """On stop (or when refusing), a client's pooled keep-alive connection must not keep
        reaching a dead server. `keep` is spared: the control call that asked for the refusal."""
        with self._conn_lock:
            open_now = [request for request in self._open if request is not keep]
        for request in open_now:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real thing
    server_version = "ECS-Simulator/1"
    timeout = IDLE_CONNECTION_TIMEOUT
    server: _Server

    # -- plumbing -------------------------------------------------------------
    @property
    def sim(self) -> "EcsSimulator":
        return self.server.simulator

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, indent=2).encode(), "application/json")

    def _send_soap(self, status: int, body: bytes) -> None:
        self._send(status, body, "text/xml; charset=utf-8")

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413/400 (the connection is then closed)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._send(411, b"Send a Content-Length, not chunked encoding.\n", "text/plain")
            return None
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(400, b"Bad Content-Length.\n", "text/plain")
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(413, b"Request too large.\n", "text/plain")
            return None
        return self.rfile.read(length) if length else b""

    def _drop(self, reset: bool) -> None:
        """End the exchange without answering: FIN (reset=False) or RST (reset=True)."""
        self.close_connection = True
        if reset:
            self.server.mark_for_reset(self.connection)

    def _authorised(self) -> bool:
        expected = self.sim.credentials
        if expected is None:
            return True
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Compare both halves, always, in constant time (no early exit on a wrong username).
        user_ok = hmac.compare_digest(username.encode(), expected[0].encode())
        password_ok = hmac.compare_digest(password.encode(), expected[1].encode())
        return user_ok and password_ok

    def _refuse_unauthorised(self) -> None:
        self._send(401, b"Authentication required.\n", "text/plain", {"WWW-Authenticate": 'Basic realm="ECS"'})

    # -- routing ----------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._route("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            if self.server.control_only and not (
                    url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/")):
                if self._read_body() is not None:
                    self._send(404, b"This is the control port: only /_control/ is served here.\n", "text/plain")
            elif url.path == ENDPOINT_PATH:
                if not self._authorised():
                    if self._read_body() is not None:
                        self._refuse_unauthorised()
                elif method == "POST":
                    self._soap_call()
                elif method == "GET" and url.query.lower() in ("wsdl", "singlewsdl"):
                    host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
                    self._send(200, self.sim.contract.wsdl_for(f"http://{host}{ENDPOINT_PATH}"),
                               "text/xml; charset=utf-8")
                elif self._read_body() is not None:
                    self._send(405, b"POST a SOAP request, or GET ?wsdl.\n", "text/plain", {"Allow": "GET, POST"})
            elif url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
                self._control(method, url.path[len(CONTROL_PREFIX):].strip("/"))
            elif self._read_body() is not None:
                self._send(404, b"Not found.\n", "text/plain")
        except (ConnectionError, BrokenPipeError):
            # The client went away (it timed out, say): nothing to answer.
            self.close_connection = True
        except Exception:  # never let one request kill the handler thread silently
            logger.exception("ECS simulator: unexpected error answering %s %s", method, url.path)
            self.close_connection = True
            try:
                self._send_soap(500, fault_envelope(INTERNAL_ERROR, "Unexpected error in the simulator."))
            except OSError:
                pass

    # -- SOAP -------------------------------------------------------------------
    def _soap_call(self) -> None:
        body = self._read_body()
        if body is None:
            return
        state = self.sim.state
        plan = state.plan

        delay = state.latency_seconds()
        if delay:
            self.sim.wait_or_release(delay)
        if plan.outage:
            self._drop(reset=False)
            return
        if state.roll(plan.reset_before_commit):
            self._drop(reset=True)
            return
        if state.roll(plan.http_500_without_fault):
            self.close_connection = True
            self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
            return
        if state.unavailable_now():
            self._fault(SERVICE_UNAVAILABLE, "ECS is unavailable (batch window or maintenance). Try again later.")
            return

        try:
            operation, element = parse_request(body, self.headers.get("SOAPAction"), self.sim.contract)
        except SimFault as fault:
            self._fault(fault.code, fault.message)
            return

        reference = _text(element, "CaseReference")
        injected = plan.fault_for_case.get(reference or "")
        if injected:
            self._fault(injected, f"Injected {injected} for case {reference}.")
            return

        try:
            payload = run_operation(state, operation, element)  # the "commit"
        except SimFault as fault:
            logger.info("ECS simulator: %s %s -> %s", operation, reference, fault.code)
            self._fault(fault.code, fault.message)
            return
        logger.info("ECS simulator: %s %s -> OK", operation, reference)

        if operation in WRITE_OPERATIONS:
            if state.roll(plan.timeout_after_commit):
                # The write is in the ledger; the caller never hears about it.
                self.sim.wait_or_release(plan.hang_seconds)
                self._drop(reset=False)
                return
            if state.roll(plan.reset_after_commit):
                self._drop(reset=True)
                return

        # Check our own answer against the contract: a simulator that drifts
        # from the WSDL would make the client's tests meaningless.
        problems = self.sim.contract.schema_errors(payload)
        if problems:
            logger.error("ECS simulator: invalid %s response: %s", operation, problems)
            self._fault(INTERNAL_ERROR, "The simulator built an invalid response.")
            return
        self._send_soap(200, response_envelope(payload))

    def _fault(self, code: str, message: str) -> None:
        self._send_soap(500, fault_envelope(code, message))

    # -- control API ------------------------------------------------------------------
    def _control(self, method: str, route: str) -> None:
        body = self._read_body()
        if body is None:
            return
        state = self.sim.state
        parts = [unquote(p) for p in route.split("/") if p]

        if method == "GET" and parts == ["health"]:
            self._send_json(200, {"status": "ok", "today": state.today.isoformat(),
                                  "cases": len(state.cases()), "faults": state.plan.to_dict(),
                                  "listening": self.sim.listening, **state.windows()})
        elif method == "GET" and parts == ["ledger"]:
            self._send_json(200, {ref: [e.to_json() for e in entries] for ref, entries in state.ledgers().items()})
        elif method == "GET" and len(parts) == 2 and parts[0] == "ledger":
            entries = state.ledger(parts[1])
            if entries is None:
                self._send_json(404, {"error": f"no case with reference {parts[1]}"})
            else:
                self._send_json(200, [e.to_json() for e in entries])
        elif method == "GET" and parts == ["cases"]:
            self._send_json(200, [case_to_json(c) for c in state.cases()])
        elif method == "GET" and len(parts) == 2 and parts[0] == "cases":
            case = state.case(parts[1])
            if case is None:
                self._send_json(404, {"error": f"no case with reference {parts[1]}"})
            else:
                self._send_json(200, case_to_json(case))
        elif method == "PUT" and parts == ["cases"]:
            data = self._json(body)
            if data is _BAD_JSON:
                return
            items = data if isinstance(data, list) else [data]
            try:
                cases = [case_from_json(item) for item in items]
            except (ValueError, TypeError) as exc:
                self._send_json(400, {"error": str(exc)})
                return
            for case in cases:
                state.put_case(case)
            self._send_json(200, {"stored": [c.reference for c in cases]})
        elif method == "GET" and parts == ["faults"]:
            self._send_json(200, state.plan.to_dict())
        elif method == "POST" and parts == ["faults"]:
            data = self._json(body if body.strip() else b"{}")
            if data is _BAD_JSON:
                return
            try:
                plan = FaultPlan.from_dict(data)
            except ValueError as exc:
                self._send_json(400, {"error": str(exc)})
                return
            if plan.refuse_connections and self.sim.control_port is None:
                self._send_json(400, {"error": (
                    "refuse_connections would close this port and leave nothing to switch it off: start "
                    "the simulator with a control port (--control-port), or use refuse_connections_for_seconds")})
                return
            self.sim.set_plan(plan, keep=self.connection)
            self._send_json(200, plan.to_dict())
        elif method == "POST" and parts == ["reset"]:
            data = self._json(body if body.strip() else b"{}")
            if data is _BAD_JSON:
                return
            today = None
            if isinstance(data, dict) and data.get("today"):
                try:
                    today = date.fromisoformat(data["today"])
                except (TypeError, ValueError):
                    self._send_json(400, {"error": "today must be a date YYYY-MM-DD"})
                    return
            self.sim.reset(today, keep=self.connection)
            self._send_json(200, {"status": "reset", "today": state.today.isoformat()})
        else:
            self._send_json(404, {"error": f"no control endpoint {method} /_control/{route}"})

    def _json(self, body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._send_json(400, {"error": f"the body is not valid JSON: {exc}"})
            return _BAD_JSON


_BAD_JSON = object()


# --------------------------------------------------------------------------
# The embeddable simulator
# --------------------------------------------------------------------------

class EcsSimulator:
    """An ECS simulator you can start in a thread (tests) or run as a process (demos).

    `today` pins the date the seed is computed from; by default it is the
    Europe/London date at each reset. With `username`/`password`, SOAP and WSDL
    requests need HTTP Basic auth (the control API never does).
    """

    def __init__(self, today: date | None = None, *, username: str | None = None,
                 password: str | None = None, wsdl_path: str | Path | None = None):
        self.contract = _Contract(Path(wsdl_path) if wsdl_path else default_wsdl_path())
        self.state = EcsState(today)
        self.credentials = (username, password or "") if username else None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._control_server: _Server | None = None
        self._control_thread: threading.Thread | None = None
        # Set to wake every injected delay/hang (on reset and stop), then replaced.
        self._release = threading.Event()
        self._release_lock = threading.Lock()
        # Refusing connections closes the SOAP port's listening socket; this lock serialises
        # closing and reopening it, and the generation cancels a timed refusal's reopening
        # timer when the plan changes before the window ends.
        self._listen_lock = threading.RLock()
        self._listening = False
        self._refusal_generation = 0
        self._stopped = threading.Event()  # set while not running
        self._stopped.set()

    # -- lifecycle --------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0, *, control_port: int | None = None) -> str:
        """Start serving in daemon threads; returns the SOAP endpoint URL.

        `control_port` (0 = any free port) opens a second listener serving only the
        control API, which keeps working while the SOAP port refuses connections.
        """
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopped.clear()
        self._server = _Server((host, port), _Handler, self)
        if control_port is not None:
            self._control_server = _Server((host, control_port), _Handler, self, control_only=True)
            self._control_thread = threading.Thread(
                target=self._control_server.serve_forever, kwargs={"poll_interval": 0.1},
                name=f"ecs-simulator-control:{self.control_port}", daemon=True)
            self._control_thread.start()
        with self._listen_lock:
            self._serve()
        logger.info("ECS simulator listening on %s", self.url)
        return self.url

    def _serve(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"ecs-simulator:{self.port}", daemon=True)
        self._thread.start()
        self._listening = True

    def stop(self) -> None:
        """Stop listening, end hung calls and cut open connections."""
        with self._listen_lock:
            self._refusal_generation += 1  # no timer may reopen the port after this
            server, self._server = self._server, None
            if server is None:
                return
            self._release_waiters()
            if self._listening:
                server.shutdown()
            self._listening = False
            server.server_close()
            server.cut_all_connections()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._thread = None
            control, self._control_server = self._control_server, None
            if control is not None:
                control.shutdown()
                control.server_close()
                control.cut_all_connections()
                if self._control_thread is not None:
                    self._control_thread.join(timeout=5)
                self._control_thread = None
        self._stopped.set()

    def __enter__(self) -> "EcsSimulator":
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until the simulator stops (for running it in the foreground)."""
        while not self._stopped.wait(0.5):
            pass

    # -- refusing connections (a whole outage) ----------------------------------------------
    @property
    def listening(self) -> bool:
        """False while the SOAP port refuses connections (see FaultPlan.refuse_connections)."""
        return self._listening

    def _apply_refusal(self, plan: FaultPlan, keep: socket.socket | None) -> None:
        with self._listen_lock:
            self._refusal_generation += 1
            generation = self._refusal_generation
            if self._server is None:
                return
            if plan.refuse_connections or plan.refuse_connections_for_seconds > 0:
                self._stop_listening(keep)
            else:
                self._start_listening()
        if not plan.refuse_connections and plan.refuse_connections_for_seconds > 0:
            timer = threading.Timer(plan.refuse_connections_for_seconds, self._end_refusal, args=(generation,))
            timer.daemon = True
            timer.start()

    def _end_refusal(self, generation: int) -> None:
        with self._listen_lock:
            if generation == self._refusal_generation and self._server is not None:
                try:
                    self._start_listening()
                except OSError:
                    logger.exception("ECS simulator: could not listen on port %s again", self.port)

    def _stop_listening(self, keep: socket.socket | None) -> None:
        """Close the listening socket: a connect() to the port is now refused by the kernel.
        Open connections are cut too, so pooled keep-alive connections cannot sneak through."""
        if not self._listening:
            return
        server = self._server
        server.shutdown()  # ends serve_forever (never called from its own thread: handlers run apart)
        server.socket.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._listening = False
        server.cut_all_connections(keep=keep)
        logger.info("ECS simulator: refusing connections on port %s", self.port)

    def _start_listening(self) -> None:
        """Listen again on the same address (SO_REUSEADDR, as at the start)."""
        if self._listening:
            return
        server = self._server
        sock = socket.socket(server.address_family, server.socket_type)
        old, server.socket = server.socket, sock
        try:
            # TCPServer's bind (not HTTPServer's, which also does a slow reverse DNS look-up).
            socketserver.TCPServer.server_bind(server)
            server.server_activate()
        except OSError:
            sock.close()
            server.socket = old
            raise
        self._serve()
        logger.info("ECS simulator: listening again on port %s", self.port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def control_port(self) -> int | None:
        """The separate control port, or None when the control API is on the SOAP port only."""
        return None if self._control_server is None else self._control_server.server_address[1]

    @staticmethod
    def _base(server: "_Server") -> str:
        host, port = server.server_address[:2]
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._base(self._server)

    @property
    def url(self) -> str:
        return self.base_url + ENDPOINT_PATH

    @property
    def control_url(self) -> str:
        """The control API: on the separate control port when there is one, else on the SOAP port."""
        if self._control_server is not None:
            return self._base(self._control_server) + CONTROL_PREFIX
        return self.base_url + CONTROL_PREFIX

    @property
    def today(self) -> date:
        return self.state.today

    # -- faults and delays ----------------------------------------------------------------
    def set_faults(self, **settings: Any) -> FaultPlan:
        """Replace the fault plan (see FaultPlan); `set_faults()` clears every fault."""
        plan = FaultPlan.from_dict(settings)
        self.set_plan(plan)
        return plan

    def set_plan(self, plan: FaultPlan, *, keep: socket.socket | None = None) -> None:
        """Replace the fault plan. `keep`: a connection not to cut when refusal starts (the
        control call asking for it, when it came in on the SOAP port)."""
        self.state.set_plan(plan)
        # Calls already hanging under the old plan should not outlive it.
        self._release_waiters()
        self._apply_refusal(plan, keep)

    @property
    def faults(self) -> FaultPlan:
        return self.state.plan

    def wait_or_release(self, seconds: float) -> None:
        with self._release_lock:
            event = self._release
        event.wait(seconds)

    def _release_waiters(self) -> None:
        with self._release_lock:
            self._release.set()
            self._release = threading.Event()

    # -- data -----------------------------------------------------------------------------
    def reset(self, today: date | None = None, *, keep: socket.socket | None = None) -> None:
        """Reseed cases, empty ledgers, clear faults (listening again if refusing), end hung calls."""
        self.state.reset(today)
        self._release_waiters()
        self._apply_refusal(self.state.plan, keep)

    def put_case(self, case: Case) -> Case:
        """Add or replace a case (see EcsState.put_case); returns it as stored."""
        return self.state.put_case(case)

    def case(self, reference: str) -> Case | None:
        return self.state.case(reference)

    def ledger(self, reference: str) -> list[SimLedgerEntry]:
        """The case's ledger, oldest first ([] for an unknown case)."""
        return self.state.ledger(reference) or []


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def serve_forever(host: str = "127.0.0.1", port: int = 8081, *, faults: dict[str, Any] | None = None,
                  control_port: int | None = None, **options: Any) -> None:
    """Run a simulator in the foreground until interrupted (Ctrl-C / SIGINT).

    `options` go to EcsSimulator (today, username, password, wsdl_path);
    `faults` is the starting fault plan (the control API can change it, and
    /_control/reset clears it).
    """
    from penaltypay.sandbox.ecs_seed import describe_seed

    simulator = EcsSimulator(**options)
    simulator.start(host, port, control_port=control_port)
    if faults:
        simulator.set_faults(**faults)
    _stop_on_sigterm()
    print(f"ECS simulator: SOAP endpoint {simulator.url}", flush=True)
    print(f"               WSDL          {simulator.url}?wsdl", flush=True)
    print(f"               control API   {simulator.control_url}/health", flush=True)
    print(f"               seed date     {simulator.today.isoformat()}", flush=True)
    if faults:
        print(f"               faults        {simulator.faults.to_dict()}", flush=True)
    for reference, vrm, description in describe_seed():
        print(f"  {reference}  {vrm:<7}  {description}", flush=True)
    try:
        simulator.wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()


def _stop_on_sigterm() -> None:
    """Let `docker stop`, `kill` and process managers stop the simulator as cleanly as Ctrl-C does."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals to whoever embeds us
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m penaltypay.sandbox.ecs_simulator",
                                     description="Run the ECS SOAP simulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081; 0 = any free port)")
    parser.add_argument("--today", type=date.fromisoformat, default=None,
                        help="seed the cases as if today were YYYY-MM-DD (default: today in London)")
    parser.add_argument("--username", default=None, help="require HTTP Basic auth with this username")
    parser.add_argument("--password", default=None, help="... and this password")
    parser.add_argument("--latency-ms", default=None,
                        help="inject latency on SOAP calls: N or MIN-MAX milliseconds (e.g. 200-800)")
    parser.add_argument("--control-port", type=int, default=None,
                        help="also serve the control API alone on this port (0 = any free port); it keeps "
                             "working while the SOAP port refuses connections")
    parser.add_argument("--faults", default=None,
                        help='starting fault plan as JSON, e.g. \'{"latency_ms": [200, 800], "tail_ms": 3000}\'')
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    faults: dict[str, Any] = {}
    if args.faults:
        try:
            faults = json.loads(args.faults)
            FaultPlan.from_dict(faults)
        except (json.JSONDecodeError, ValueError) as exc:
            parser.error(f"--faults: {exc}")
    if args.latency_ms:
        low, _, high = args.latency_ms.partition("-")
        try:
            faults["latency_ms"] = list(_parse_latency([int(low), int(high or low)]))
        except ValueError as exc:
            parser.error(f"--latency-ms: {exc}")
    serve_forever(args.host, args.port, faults=faults, control_port=args.control_port,
                  today=args.today, username=args.username, password=args.password)
    return 0


if __name__ == "__main__":
    sys.exit(main())
