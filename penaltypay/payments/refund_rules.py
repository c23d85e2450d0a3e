"""The rules of refunds, in plain Python: their states, how much of a payment is still
refundable, who may approve one, and what counts as an over-payment."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from enum import Enum
from typing import NamedTuple


class RefundStatus(str, Enum):
    REQUESTED = "requested"  # waiting for a second finance user
    REJECTED = "rejected"  # the second user said no; nothing was sent
    SUBMITTING = "submitting"  # approved; being (or to be) asked of the provider
    SUBMITTED = "submitted"  # the provider has it
    SUCCESS = "success"  # the money went back to the keeper
    ERROR = "error"  # the provider could not make it (no money moved)
    REFUSED = "refused"  # the provider refused to take it (e.g. nothing left to refund)
    # Asked, answer lost, and the provider holds a refund of this payment we did not record:
    # its refunds carry no reference of ours, so only a person can say whether it is this one.
    UNKNOWN = "unknown"
    # The provider could not make it (error), so finance paid it another way (bank transfer,
    # cheque): recorded by one person, waiting for a second; then paid, and ECS is told.
    OFFLINE_REQUESTED = "offline_requested"
    PAID_OFFLINE = "paid_offline"


# Money already promised back, or on its way: it cannot be promised twice.
HOLDS_MONEY = frozenset(
    {
        RefundStatus.REQUESTED,
        RefundStatus.SUBMITTING,
        RefundStatus.SUBMITTED,
        RefundStatus.SUCCESS,
        RefundStatus.UNKNOWN,
        RefundStatus.OFFLINE_REQUESTED,
        RefundStatus.PAID_OFFLINE,
    }
)
FINISHED = frozenset(
    {
        RefundStatus.REJECTED,
        RefundStatus.SUCCESS,
        RefundStatus.ERROR,
        RefundStatus.REFUSED,
        RefundStatus.PAID_OFFLINE,
    }
)
# The money went back to the keeper (through the provider, or another way).
PAID_BACK = frozenset({RefundStatus.SUCCESS, RefundStatus.PAID_OFFLINE})


class RefundMove(NamedTuple):
    """One allowed move of a refund, and the event that causes it."""

    source: RefundStatus
    target: RefundStatus
    event: str


# Every move a refund may make; anything else is refused (penaltypay.payments.refund_moves).
REFUND_MOVES: tuple[RefundMove, ...] = (
    RefundMove(RefundStatus.REQUESTED, RefundStatus.REJECTED, "a second finance user rejects it"),
    RefundMove(RefundStatus.REQUESTED, RefundStatus.SUBMITTING, "a second finance user approves it"),
    RefundMove(RefundStatus.SUBMITTING, RefundStatus.SUBMITTED, "the provider took the refund"),
    RefundMove(RefundStatus.SUBMITTING, RefundStatus.ERROR, "the provider could not make it (no money moved)"),
    RefundMove(RefundStatus.SUBMITTING, RefundStatus.REFUSED, "the provider refused it (nothing left to refund)"),
    RefundMove(
        RefundStatus.SUBMITTING,
        RefundStatus.UNKNOWN,
        "the answer was lost, and the provider holds a refund of the payment we did not record",
    ),
    RefundMove(RefundStatus.SUBMITTED, RefundStatus.SUCCESS, "the provider says the money went back"),
    RefundMove(RefundStatus.SUBMITTED, RefundStatus.ERROR, "the provider says it failed"),
    # A person looked at the provider's refunds: that one was ours, or none was (ask again).
    RefundMove(RefundStatus.UNKNOWN, RefundStatus.SUBMITTED, "a person matched it to the provider's refund"),
    RefundMove(RefundStatus.UNKNOWN, RefundStatus.SUBMITTING, "a person found none: the provider is asked again"),
    # The provider could not make it: paid another way, once a second person agrees.
    RefundMove(RefundStatus.ERROR, RefundStatus.OFFLINE_REQUESTED, "finance records paying it another way"),
    RefundMove(RefundStatus.OFFLINE_REQUESTED, RefundStatus.PAID_OFFLINE, "a second finance user approves it"),
    RefundMove(RefundStatus.OFFLINE_REQUESTED, RefundStatus.ERROR, "a second finance user rejects it"),
)

MOVES: dict[RefundStatus, frozenset[RefundStatus]] = {
    source: frozenset(move.target for move in REFUND_MOVES if move.source is source)
    for source in dict.fromkeys(move.source for move in REFUND_MOVES)
}

# How a refund the provider could not make was paid instead.
OFFLINE_METHODS = {"bank-transfer": "Bank transfer", "cheque": "Cheque"}


def move_allowed(current: RefundStatus, target: RefundStatus) -> bool:
    return target in MOVES.get(current, frozenset())


REASONS = {
    "duplicate": "Paid twice",
    "overpaid": "Paid more than was due",
    "case-closed": "Case closed before the payment reached ECS",
    "cancelled": "Penalty cancelled or withdrawn",
    "complaint": "Complaint upheld",
    "other": "Other",
}

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class RefundRuleBroken(Exception):
    """A refund that the rules do not allow; the message says why, for the person asking."""


def new_refund_reference() -> str:
    """Our own refund reference, e.g. 'RF-7KQ2-M4XD' (ECS RefundReference: 1-36 of [A-Za-z0-9-_])."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"RF-{chars[:4]}-{chars[4:]}"


def refundable_pence(paid_pence: int, refunds: Iterable[tuple[int, RefundStatus]]) -> int:
    """What may still be asked back: the payment less every refund asked for or made
    (rejected, refused and failed ones give their amount back)."""
    held = sum(amount for amount, status in refunds if status in HOLDS_MONEY)
    return max(0, paid_pence - held)


def check_request(amount_pence: int, remaining_pence: int) -> None:
    if amount_pence < 1:
        raise RefundRuleBroken("Enter an amount of at least 1p")
    if amount_pence > remaining_pence:
        if remaining_pence == 0:
            raise RefundRuleBroken("Nothing is left to refund on this payment")
        pounds, pence = divmod(remaining_pence, 100)
        most = f"£{pounds:,}.{pence:02d}" if pence else f"£{pounds:,}"
        raise RefundRuleBroken(f"The refund must be {most} or less: that is what remains refundable")


def check_decider(requested_by: str, deciding: str) -> None:
    """Four eyes: the person who asked for a refund never approves or rejects it."""
    if requested_by.casefold() == deciding.casefold():
        raise RefundRuleBroken("You asked for this refund, so another finance user must approve or reject it")


def excess_pence(due_pence: int, paid_pence: int) -> int:
    """An over-payment: what was paid beyond what was due (0 when none)."""
    return max(0, paid_pence - due_pence)
