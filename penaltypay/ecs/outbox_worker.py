"""The ECS outbox worker: delivers each money event to the ECS ledger exactly once,
in order per case, whatever ECS does.

How the guarantees are kept (docs/ecs-delivery.md has the full argument):

* Order per case: only the oldest undelivered event of a case can be claimed; an
  event in `exception` holds the ones behind it.
* One sender per event: an event is claimed by a lease (`FOR UPDATE SKIP LOCKED`
  on PostgreSQL, the write lock on SQLite); every later write is fenced on the
  lease owner, and an expired lease (a dead worker) can be claimed again.
* Exactly once: `outcome_unknown` is committed *before* each write call and
  cleared only by a definite answer. Whoever finds it set reads `GetCaseLedger`
  and looks for the event's reference before writing again - and not before
  `Policy.unknown_outcome_settle_seconds` after that write began (the same commit
  moves `next_attempt_at` there), because ECS can apply a write after its caller
  timed out, and a ledger read before then would miss it.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import close_old_connections, connections, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from penaltypay.ecs import delivery, errors
from penaltypay.ecs.breaker_store import SharedBreaker
from penaltypay.ecs.models import DeliveryAttempt, OutboxEvent
from penaltypay.ecs.ports import EcsLedger
from penaltypay.kernel import request_id
from penaltypay.kernel.idle_gate import IdleGate
from penaltypay.web.db_pool import lend_connection_back

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivered:
    """A money event that is now in the ECS ledger, for the `on_delivered` hook."""

    kind: str  # OutboxEvent.KIND_PAYMENT | KIND_REFUND
    case_reference: str
    payment_reference: str
    refund_reference: str
    amount_pence: int
    case_status: str | None  # the case's status after the write, when ECS told us
    at: datetime


@dataclass
class WorkerStats:
    sent: int = 0
    found_in_ledger: int = 0  # an earlier write had taken effect: not written again
    retried: int = 0
    exceptions: int = 0
    breaker_waits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "lock"}


class OutboxWorker:
    def __init__(
        self,
        client_factory: Callable[[], EcsLedger],
        *,
        on_delivered: Callable[[Delivered], None] | None = None,
        concurrency: int = 16,
        lease_seconds: float = 60.0,
        idle_seconds: float = 0.5,
        respect_batch_window: bool = True,
        policy: delivery.Policy = delivery.DEFAULT_POLICY,
        clock: Callable[[], datetime] = timezone.now,
        rng: Callable[[], float] = random.random,
    ):
        self.client_factory = client_factory
        self.on_delivered = on_delivered
        self.policy = policy
        self.concurrency = max(1, concurrency)
        self.lease = timedelta(seconds=lease_seconds)
        self.idle_seconds = idle_seconds
        self.idle = IdleGate(idle_seconds)
        self.respect_batch_window = respect_batch_window
        self.clock = clock
        self.rng = rng
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.stats = WorkerStats()
        self.breaker = SharedBreaker(policy, clock)

    # --- claiming ------------------------------------------------------------

    def _lease_free(self, now: datetime) -> Q:
        return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)

    def claim_next(self, owner: str) -> OutboxEvent | None:
        """Lease the oldest deliverable event whose case has nothing older waiting."""
        now = self.clock()
        older_waiting = OutboxEvent.objects.filter(
            case_reference=OuterRef("case_reference"),
            id__lt=OuterRef("id"),
            status__in=[OutboxEvent.PENDING, OutboxEvent.EXCEPTION],
        )
        candidates = (
            OutboxEvent.objects.filter(status=OutboxEvent.PENDING, next_attempt_at__lte=now)
            .filter(self._lease_free(now))
            .exclude(Exists(older_waiting))
            .order_by("id")
        )
        with transaction.atomic():
            event = candidates.select_for_update(skip_locked=True, of=("self",)).first()
            if event is None:
                return None
            claimed = (
                OutboxEvent.objects.filter(pk=event.pk, status=OutboxEvent.PENDING)
                .filter(self._lease_free(now))
                .update(lease_owner=owner, lease_expires_at=now + self.lease)
            )
        if claimed != 1:
            return None
        event.lease_owner = owner
        return event

    def _fenced(self, event: OutboxEvent, owner: str):
        return OutboxEvent.objects.filter(pk=event.pk, lease_owner=owner, status=OutboxEvent.PENDING)

    def _release(self, event: OutboxEvent, owner: str, **fields) -> bool:
        return self._fenced(event, owner).update(lease_owner="", lease_expires_at=None, **fields) == 1

    # --- delivering ------------------------------------------------------------

    def deliver(self, event: OutboxEvent, client: EcsLedger, owner: str) -> str:
        """Take one claimed event as far as it can go now. Returns what happened."""
        now = self.clock()
        if self.respect_batch_window and delivery.in_batch_window(now):
            self._release(event, owner, next_attempt_at=delivery.batch_window_end(now))
            return "batch_window"
        wait_until = self.breaker.permits()
        if wait_until is not None:
            self.stats.add("breaker_waits")
            self._release(event, owner, next_attempt_at=max(wait_until, now))
            return "breaker_open"
        writing = False
        settle_until: datetime | None = None
        try:
            if event.outcome_unknown:
                lend_connection_back()
                entry = self._find_in_ledger(event, client)
                if entry is not None:
                    self._mark_sent(event, owner, entry.receipt_number, case_status=None)
                    self.stats.add("found_in_ledger")
                    self.breaker.record(None)
                    return "found_in_ledger"
            # Write-ahead: from here until a definite answer, the write may have happened.
            # The event also becomes unclaimable until ECS has had time to apply a write that is
            # still on its way (a dead worker's lease can expire sooner), and the lease is
            # renewed so that it covers this call.
            write_started = self.clock()
            settle_until = delivery.ledger_check_not_before(write_started, self.policy)
            if (
                self._fenced(event, owner).update(
                    outcome_unknown=True,
                    attempts=F("attempts") + 1,
                    next_attempt_at=settle_until,
                    lease_expires_at=write_started + self.lease,
                )
                != 1
            ):
                return "lease_lost"
            event.attempts += 1
            writing = True
            lend_connection_back()  # ECS takes its time: other threads use the connection meanwhile
            receipt = self._write(event, client)
        except errors.EcsError as error:
            self.breaker.record(error)
            # Unknown if the ledger read failed while an earlier write was unknown, or this
            # write's own outcome is unknown. A definite refusal after a clean ledger check is known.
            unknown = (event.outcome_unknown and not writing) or (writing and not error.outcome_known)
            return self._after_error(
                event,
                owner,
                error,
                unknown_now=unknown,
                not_before=settle_until if writing and not error.outcome_known else None,
            )
        self.breaker.record(None)
        self._mark_sent(event, owner, receipt.receipt_number, case_status=receipt.case_status)
        self.stats.add("sent")
        return "sent"

    def _find_in_ledger(self, event: OutboxEvent, client: EcsLedger):
        for entry in client.get_case_ledger(event.case_reference):
            if entry.kind != event.kind:
                continue
            if event.kind == OutboxEvent.KIND_PAYMENT and entry.payment_reference == event.payment_reference:
                return entry
            if event.kind == OutboxEvent.KIND_REFUND and entry.refund_reference == event.refund_reference:
                return entry
        return None

    def _write(self, event: OutboxEvent, client: EcsLedger):
        if event.kind == OutboxEvent.KIND_PAYMENT:
            return client.record_payment(
                event.case_reference,
                event.payment_reference,
                event.amount_pence,
                event.effective_at,
                event.channel,
                event.psp_reference or event.payment_reference,
            )
        return client.record_refund(
            event.case_reference,
            event.payment_reference,
            event.refund_reference,
            event.amount_pence,
            event.effective_at,
        )

    def _after_error(
        self,
        event: OutboxEvent,
        owner: str,
        error: errors.EcsError,
        *,
        unknown_now: bool,
        not_before: datetime | None = None,
    ) -> str:
        now = self.clock()
        decision = delivery.decide_after_error(
            error, event.attempts, now, self.rng, batch_window=self.respect_batch_window, policy=self.policy
        )
        # ECS's fault code when it sent one (CASE_CLOSED, ...): what the exceptions queue shows.
        message = f"{getattr(error, 'code', None) or type(error).__name__}: {error.message}"[:300]
        if decision.outcome is delivery.Outcome.EXCEPTION:
            self._release(
                event,
                owner,
                status=OutboxEvent.EXCEPTION,
                exception_reason=decision.reason[:300],
                last_error=message,
                outcome_unknown=unknown_now,
            )
            self.stats.add("exceptions")
            self._note(event, DeliveryAttempt.EXCEPTION, f"{decision.reason} ({message})", owner)
            level = logging.ERROR if decision.alert else logging.WARNING
            log.log(
                level,
                "ECS delivery stopped for a person",
                extra={
                    "outbox_event": event.pk,
                    "case_reference": event.case_reference,
                    "reason": decision.reason,
                    "alert": decision.alert,
                },
            )
            return "exception"
        retry_at = decision.retry_at or now  # a RETRY decision always names its time
        if not_before is not None:
            retry_at = max(retry_at, not_before)
        self._release(event, owner, next_attempt_at=retry_at, last_error=message, outcome_unknown=unknown_now)
        self._note(event, DeliveryAttempt.RETRY, message, owner)
        self.stats.add("retried")
        return "retry"

    def _note(self, event: OutboxEvent, outcome: str, detail: str, owner: str) -> None:
        DeliveryAttempt.objects.create(
            event_id=event.pk, at=self.clock(), outcome=outcome, detail=detail[:300], worker=owner[:100]
        )

    def _mark_sent(self, event: OutboxEvent, owner: str, receipt_number: str, case_status: str | None) -> None:
        now = self.clock()
        with transaction.atomic():
            done = self._fenced(event, owner).update(
                status=OutboxEvent.SENT,
                sent_at=now,
                receipt_number=receipt_number[:64],
                outcome_unknown=False,
                lease_owner="",
                lease_expires_at=None,
                last_error="",
            )
            if done != 1:
                return  # our lease was taken over; the new owner finds it in the ledger
            self._note(
                event,
                DeliveryAttempt.FOUND_IN_LEDGER if case_status is None else DeliveryAttempt.SENT,
                f"receipt {receipt_number}",
                owner,
            )
            if self.on_delivered is not None:
                # In the same transaction: what the rest of the service learns from the delivery
                # (the payment is now in ECS; our copy of the case) commits with it or not at all.
                self.on_delivered(
                    Delivered(
                        kind=event.kind,
                        case_reference=event.case_reference,
                        payment_reference=event.payment_reference,
                        refund_reference=event.refund_reference,
                        amount_pence=event.amount_pence,
                        case_status=case_status,
                        at=now,
                    )
                )

    # --- running ---------------------------------------------------------------

    def _loop(self, stop: threading.Event, until_idle: bool) -> None:
        owner = f"{self.name}:{uuid.uuid4().hex[:8]}"
        client = self.client_factory()
        try:
            while not stop.is_set():
                close_old_connections()
                try:
                    event = self.claim_next(owner)
                except Exception:
                    log.exception("claiming an outbox event failed")
                    stop.wait(self.idle_seconds)
                    continue
                if event is None:
                    if until_idle:
                        return
                    lend_connection_back()
                    self.idle.nothing_found(stop)  # one thread looks while the queue is empty
                    continue
                self.idle.found_work()
                try:
                    with request_id.use(event.request_id):  # its lines join its payment's request
                        outcome = self.deliver(event, client, owner)
                except Exception:
                    # One failing item never stops the rest; its lease expires and it is retried.
                    log.exception("delivering an outbox event failed", extra={"outbox_event": event.pk})
                    continue
                if outcome == "breaker_open" and not until_idle:
                    self._wait_for_breaker(stop)
        finally:
            client.close()
            connections.close_all()

    def _wait_for_breaker(self, stop: threading.Event) -> None:
        """While the breaker is open (or another worker's probe is out), claim nothing: claiming
        would only release each event again, sweeping the whole backlog once per open period.
        Look at the breaker every second, so that delivery resumes as soon as a probe succeeds."""
        while not stop.is_set():
            try:
                open_until = self.breaker.open_until()
            except Exception:
                log.exception("reading the ECS circuit breaker failed")
                return
            if open_until is None:
                return
            remaining = (open_until - self.clock()).total_seconds()
            if remaining <= 0:
                return  # a probe is due: the next claim may make it
            stop.wait(min(remaining, 1.0))

    def run(self, stop: threading.Event, *, until_idle: bool = False) -> None:
        """Deliver with `concurrency` threads until `stop` is set (or, with `until_idle`,
        until nothing is deliverable now)."""
        # SQLite takes one writer at a time: more threads would only queue on its lock.
        count = 1 if connections["default"].vendor == "sqlite" else self.concurrency
        threads = [
            threading.Thread(target=self._loop, args=(stop, until_idle), name=f"outbox-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
