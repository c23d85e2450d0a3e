"""The payment state machine: which moves are allowed, from what, to what, and the event
that causes each (MOVES).

Our own statuses (not the provider's), because we also need the states before
the provider knows the payment (`new`) and when we cannot tell whether it does
(`create_unknown`).
"""

from __future__ import annotations

import secrets
from enum import Enum
from typing import NamedTuple


class PaymentStatus(str, Enum):
    NEW = "new"  # recorded by us, provider not yet called
    CREATE_UNKNOWN = "create_unknown"  # the create call's outcome is unknown (timeout, 5xx)
    IN_PROGRESS = "in_progress"  # the provider has it; the payer has not finished
    SUCCESS = "success"
    FAILED = "failed"  # declined, expired or cancelled by the payer
    CANCELLED = "cancelled"  # cancelled by us
    ERROR = "error"  # provider-side error, no money taken
    CREATE_FAILED = "create_failed"  # the provider refused the create: nothing exists there
    ABANDONED = "abandoned"  # create outcome unknown and no such payment ever appeared


# How a payment was taken: by the keeper online, or by an agent on the telephone (MOTO).
CHANNEL_ONLINE = "ONLINE"
CHANNEL_PHONE = "PHONE"

LIVE_STATUSES = frozenset({PaymentStatus.NEW, PaymentStatus.CREATE_UNKNOWN, PaymentStatus.IN_PROGRESS})
FINAL_STATUSES = frozenset(set(PaymentStatus) - LIVE_STATUSES)


class Move(NamedTuple):
    """One allowed move of a payment, and the event that causes it (pay-connector keeps its
    state transition table the same way)."""

    source: PaymentStatus
    target: PaymentStatus
    event: str


_FINISHED_AT_PROVIDER = (
    (PaymentStatus.SUCCESS, "the payer paid"),
    (PaymentStatus.FAILED, "declined, expired or cancelled by the payer (P0010, P0020, P0030)"),
    (PaymentStatus.CANCELLED, "cancelled by us (P0040)"),
    (PaymentStatus.ERROR, "the provider's error, no money taken (P0050)"),
)

# Every move a payment may make; anything else is refused (check_transition). Moves are read
# from the provider (its answer to a create, a webhook, the keeper's return, the re-check,
# a search by our reference), never decided by us alone.
MOVES: tuple[Move, ...] = (
    Move(PaymentStatus.NEW, PaymentStatus.IN_PROGRESS, "the provider created it (its card page is ready)"),
    Move(PaymentStatus.NEW, PaymentStatus.CREATE_UNKNOWN, "the create timed out or failed on the provider's side"),
    Move(PaymentStatus.NEW, PaymentStatus.CREATE_FAILED, "the provider refused the create, or could not be reached"),
    *(
        Move(PaymentStatus.NEW, target, f"first read already finished: {event}")
        for target, event in _FINISHED_AT_PROVIDER
    ),
    Move(PaymentStatus.CREATE_UNKNOWN, PaymentStatus.IN_PROGRESS, "a search by our reference found it in progress"),
    *(
        Move(PaymentStatus.CREATE_UNKNOWN, target, f"a search by our reference found it finished: {event}")
        for target, event in _FINISHED_AT_PROVIDER
    ),
    Move(
        PaymentStatus.CREATE_UNKNOWN,
        PaymentStatus.ABANDONED,
        "no search found it within ABANDON_UNKNOWN_AFTER: nobody had its card page",
    ),
    *(Move(PaymentStatus.IN_PROGRESS, target, event) for target, event in _FINISHED_AT_PROVIDER),
    # We gave up on an unknown create; if it turns up paid after all, the money is real.
    Move(
        PaymentStatus.ABANDONED,
        PaymentStatus.SUCCESS,
        "an abandoned create turned up paid (the re-check's search or the reconciliation adopts it)",
    ),
)

_ALLOWED: dict[PaymentStatus, set[PaymentStatus]] = {}
for _move in MOVES:
    _ALLOWED.setdefault(_move.source, set()).add(_move.target)


class IllegalTransition(Exception):
    def __init__(self, current: PaymentStatus, target: PaymentStatus):
        super().__init__(f"payment cannot move from {current.value} to {target.value}")
        self.current = current
        self.target = target


def check_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    """True when the move changes something, False when it is a repeat of where we are
    (a duplicate webhook, a second poll); IllegalTransition for anything not in MOVES.
    A finished payment never changes again, but for one move: an abandoned create that
    turns up paid becomes a success (the money is real)."""
    current, target = PaymentStatus(current), PaymentStatus(target)
    if current == target:
        return False
    if target in _ALLOWED.get(current, set()):
        return True
    raise IllegalTransition(current, target)


_PROVIDER_TO_OURS = {
    "created": PaymentStatus.IN_PROGRESS,
    "started": PaymentStatus.IN_PROGRESS,
    "submitted": PaymentStatus.IN_PROGRESS,
    "capturable": PaymentStatus.IN_PROGRESS,
    "success": PaymentStatus.SUCCESS,
    "failed": PaymentStatus.FAILED,
    "cancelled": PaymentStatus.CANCELLED,
    "error": PaymentStatus.ERROR,
}


def status_from_provider(provider_status: str) -> PaymentStatus:
    try:
        return _PROVIDER_TO_OURS[provider_status]
    except KeyError:
        raise ValueError(f"unknown provider payment status {provider_status!r}") from None


# Unambiguous characters only: a keeper may read this reference out on the phone.
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_payment_reference() -> str:
    """Our own payment reference, e.g. 'PP-7KQ2-M4XD': sent to the provider and to ECS
    (ExternalReference: 1–36 of [A-Za-z0-9-_])."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"PP-{chars[:4]}-{chars[4:]}"


class Outcome(str, Enum):
    """What a keeper is told about a payment: one page each."""

    PAID = "paid"
    IN_PROGRESS = "in-progress"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED_BY_PAYER = "cancelled-by-you"
    CANCELLED_BY_SERVICE = "cancelled-by-service"
    PROVIDER_ERROR = "error"
    NOT_TAKEN = "not-taken"  # the provider refused the create, or it never appeared


# The provider's failure codes (GOV.UK Pay's P0010…P0050) in our words.
_FAILURE_OUTCOMES = {
    "P0010": Outcome.DECLINED,
    "P0020": Outcome.EXPIRED,
    "P0030": Outcome.CANCELLED_BY_PAYER,
    "P0040": Outcome.CANCELLED_BY_SERVICE,
    "P0050": Outcome.PROVIDER_ERROR,
}


def outcome_of(status: PaymentStatus | str, failure_code: str = "") -> Outcome:
    status = PaymentStatus(status)
    if status is PaymentStatus.SUCCESS:
        return Outcome.PAID
    if status in LIVE_STATUSES:
        return Outcome.IN_PROGRESS
    if status in (PaymentStatus.CREATE_FAILED, PaymentStatus.ABANDONED):
        return Outcome.NOT_TAKEN
    if failure_code in _FAILURE_OUTCOMES:
        return _FAILURE_OUTCOMES[failure_code]
    if status is PaymentStatus.ERROR:
        return Outcome.PROVIDER_ERROR
    if status is PaymentStatus.CANCELLED:
        return Outcome.CANCELLED_BY_SERVICE
    return Outcome.DECLINED
