"""How one day's money is classed when the provider, penaltypay and ECS are compared: plain
Python, so that every class and the totals can be tested without any of the three.

Every money movement (a payment or a refund) seen by any of the three becomes exactly one
item. Amounts are signed (refunds negative), per side; a side that does not hold the item
has 0. The totals are the sums of the items' amounts, side by side, matched items
included, so that a total always equals the sum of its items."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum


class Class(str, Enum):
    MATCHED = "matched"
    IN_FLIGHT = "in_flight"
    MISSING_IN_ECS = "missing_in_ecs"
    MISSING_IN_PENALTYPAY = "missing_in_penaltypay"
    MISSING_AT_PROVIDER = "missing_at_provider"
    AMOUNT_DIFFERS = "amount_differs"
    EXCEPTION = "exception"
    ECS_OTHER_CHANNEL = "ecs_other_channel"
    # The bank, the fourth side: the day's payout against the statement.
    PAYOUT_DIFFERS = "payout_differs"
    PAYOUT_MISSING = "payout_missing"
    UNMATCHED_CREDIT = "unmatched_credit"


ACTIONS = {
    Class.MATCHED: "",
    Class.IN_FLIGHT: "None yet: delivery to ECS is under way; it matches on the next run.",
    Class.MISSING_IN_ECS: "Find it in the outbox (exceptions list, 'Not reaching ECS') and send it again; the worker "
    "reads the ECS ledger before writing, so it cannot be recorded twice.",
    Class.MISSING_IN_PENALTYPAY: "Money taken that we never recorded: it is on the exceptions list. If its "
    "reference is ours it was adopted; otherwise find the keeper's case and record or refund it at the provider.",
    Class.MISSING_AT_PROVIDER: "We recorded money the provider does not show as taken: check the payment at the "
    "provider before anything else, and do not refund it.",
    Class.AMOUNT_DIFFERS: "Compare the three amounts; raise the difference with the provider or the ECS team.",
    Class.EXCEPTION: "Already on the exceptions list: deal with it there.",
    Class.ECS_OTHER_CHANNEL: "None: ECS holds money taken elsewhere (information only).",
    Class.PAYOUT_DIFFERS: "The bank received a different amount from the provider's settled net for the day: "
    "compare the provider's payout report line by line (fees, refunds, lost disputes) and raise the difference.",
    Class.PAYOUT_MISSING: "The provider's payout for the day is not on the bank statement: check the statement "
    "covers the day and ask the provider where the payout went.",
    Class.UNMATCHED_CREDIT: "A line on the bank statement that is no payout of the day: find where it came from "
    "(another day's payout, another service) before treating it as ours.",
}
# A day balances when nothing but these is left. (A day no loaded statement covers has no
# bank items: the three other sides can still balance, and the run says bank_loaded false.)
SETTLED = frozenset({Class.MATCHED, Class.IN_FLIGHT, Class.ECS_OTHER_CHANNEL})


@dataclass(frozen=True)
class Money:
    """A payment or refund as one side holds it. `key` is our reference (payment or refund
    reference) when known; `provider_id` is the provider's id."""

    kind: str  # "PAYMENT" | "REFUND"
    key: str
    provider_id: str
    case_reference: str
    amount_pence: int
    payment_reference: str = ""  # for a refund: its payment's reference


@dataclass(frozen=True)
class Delivery:
    """Where our own record of a payment or refund stands on its way to ECS."""

    status: str  # pending | sent | exception | resolved | none
    queued_at: datetime | None


@dataclass(frozen=True)
class LedgerLine:
    kind: str
    key: str  # payment reference, or refund reference for refunds
    case_reference: str
    amount_pence: int
    channel: str
    at: datetime | None = None  # when the money moved (PaidAt / RefundedAt)


@dataclass
class Item:
    cls: Class
    kind: str
    key: str
    case_reference: str
    payment_reference: str
    provider_pence: int = 0
    penaltypay_pence: int = 0
    ecs_pence: int = 0
    bank_pence: int = 0
    detail: str = ""

    @property
    def amount_pence(self) -> int:
        return self.penaltypay_pence or self.provider_pence or self.ecs_pence or self.bank_pence

    @property
    def action(self) -> str:
        return ACTIONS[self.cls]


@dataclass
class Totals:
    provider_pence: int = 0
    penaltypay_pence: int = 0
    ecs_pence: int = 0
    bank_pence: int = 0


@dataclass
class Outcome:
    items: list[Item] = field(default_factory=list)

    @property
    def totals(self) -> Totals:
        return Totals(
            sum(i.provider_pence for i in self.items),
            sum(i.penaltypay_pence for i in self.items),
            sum(i.ecs_pence for i in self.items),
            sum(i.bank_pence for i in self.items),
        )

    def counts(self) -> dict[str, int]:
        return {cls.value: sum(1 for i in self.items if i.cls is cls) for cls in Class}

    @property
    def balanced(self) -> bool:
        return all(item.cls in SETTLED for item in self.items)


def _signed(kind: str, amount: int) -> int:
    # Money going back: a refund, or a lost dispute (ECS holds it as a refund).
    return -amount if kind in ("REFUND", "DISPUTE") else amount


def classify(
    provider: Iterable[Money],
    ours: Iterable[Money],
    ledger: Iterable[LedgerLine],
    deliveries: dict[str, Delivery],
    now: datetime,
    expected_delivery: timedelta,
) -> Outcome:
    """Class every movement seen by any side. Provider and our records are matched by the
    provider's id (then by our reference); ECS by our reference."""
    ours = list(ours)
    by_provider_id = {m.provider_id: m for m in ours if m.provider_id}
    by_key = {m.key: m for m in ours}
    # A basket's payment is one RecordPayment per penalty under one reference: ECS's lines
    # for one key are that one movement, their amounts together.
    lines: dict[str, LedgerLine] = {}
    for line in ledger:
        held = lines.get(line.key)
        lines[line.key] = line if held is None else replace(held, amount_pence=held.amount_pence + line.amount_pence)
    outcome = Outcome()
    seen_ours: set[str] = set()
    for remote in provider:
        mine = by_provider_id.get(remote.provider_id) or by_key.get(remote.key)
        if mine is None:
            theirs = _take(lines, remote.key)
            outcome.items.append(
                Item(
                    Class.MISSING_IN_PENALTYPAY,
                    remote.kind,
                    remote.key,
                    remote.case_reference,
                    remote.payment_reference or remote.key,
                    provider_pence=_signed(remote.kind, remote.amount_pence),
                    ecs_pence=_signed(theirs.kind, theirs.amount_pence) if theirs else 0,
                    detail=f"provider {remote.provider_id}",
                )
            )
            continue
        seen_ours.add(mine.key)
        outcome.items.append(_with_ecs(mine, remote, _take(lines, mine.key), deliveries, now, expected_delivery))
    for mine in ours:
        if mine.key not in seen_ours:
            outcome.items.append(_with_ecs(mine, None, _take(lines, mine.key), deliveries, now, expected_delivery))
    for line in lines.values():
        outcome.items.append(
            Item(
                Class.ECS_OTHER_CHANNEL,
                line.kind,
                line.key,
                line.case_reference,
                line.key if line.kind == "PAYMENT" else "",
                ecs_pence=_signed(line.kind, line.amount_pence),
                detail=f"channel {line.channel}",
            )
        )
    return outcome


def _take(lines: dict[str, LedgerLine], key: str) -> LedgerLine | None:
    return lines.pop(key) if key in lines else None


def _with_ecs(
    mine: Money,
    remote: Money | None,
    line: LedgerLine | None,
    deliveries: dict[str, Delivery],
    now: datetime,
    expected_delivery: timedelta,
) -> Item:
    item = Item(
        Class.MATCHED,
        mine.kind,
        mine.key,
        mine.case_reference,
        mine.payment_reference or mine.key,
        provider_pence=_signed(remote.kind, remote.amount_pence) if remote else 0,
        penaltypay_pence=_signed(mine.kind, mine.amount_pence),
        ecs_pence=_signed(line.kind, line.amount_pence) if line else 0,
    )
    if remote is None:
        item.cls = Class.MISSING_AT_PROVIDER
    elif item.provider_pence != item.penaltypay_pence or (line is not None and item.ecs_pence != item.penaltypay_pence):
        item.cls = Class.AMOUNT_DIFFERS
    elif line is None:
        delivery = deliveries.get(mine.key, Delivery("none", None))
        if delivery.status == "exception":
            item.cls = Class.EXCEPTION
        elif delivery.status == "resolved" or (delivery.status == "none" and mine.kind == "REFUND"):
            # A person decided it never goes to ECS (or it is a refund of such a payment):
            # reconciled, not missing.
            item.detail = "not for ECS: resolved by a person"
        elif delivery.status == "pending" and delivery.queued_at and now - delivery.queued_at <= expected_delivery:
            item.cls = Class.IN_FLIGHT
        else:
            item.cls = Class.MISSING_IN_ECS
    return item


# --- the bank -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankLine:
    key: str
    description: str
    amount_pence: int


@dataclass(frozen=True)
class Settlement:
    """The provider's settlement for the day: what it paid in, and what it kept back."""

    payments_pence: int = 0
    fees_pence: int = 0  # its fees on payments and lost disputes
    refunds_pence: int = 0
    disputes_pence: int = 0  # lost disputes' amounts (their fees are in fees_pence)

    @property
    def net_pence(self) -> int:
        return self.payments_pence - self.fees_pence - self.refunds_pence - self.disputes_pence


def classify_bank(day: str, settlement: Settlement, lines: Iterable[BankLine], *, loaded: bool) -> list[Item]:
    """The day's payout against the bank statement's lines for that day. One line equal to the
    provider's settled net is the payout; with none equal, the nearest line of the same sign
    is taken as the payout and differs; every other line matches no payout. A day no loaded statement covers is
    not checked: no items."""
    expected = settlement.net_pence
    key = f"payout-{day}"
    if not loaded:
        return []
    remaining = list(lines)
    items: list[Item] = []
    chosen = next((line for line in remaining if line.amount_pence == expected), None)
    # Only money moving the payout's way can be a payout that differs (a bank charge cannot).
    candidates = [line for line in remaining if expected != 0 and (line.amount_pence > 0) == (expected > 0)]
    if chosen is None and candidates:
        chosen = min(candidates, key=lambda line: (abs(line.amount_pence - expected), line.key))
    if chosen is not None:
        remaining.remove(chosen)
        differs = chosen.amount_pence != expected
        items.append(
            Item(
                Class.PAYOUT_DIFFERS if differs else Class.MATCHED,
                "PAYOUT",
                key,
                "",
                "",
                bank_pence=chosen.amount_pence,
                detail=(
                    f"bank {chosen.amount_pence} pence ({chosen.description}), provider's settled net {expected} "
                    f"pence: {'short' if chosen.amount_pence < expected else 'over'} by "
                    f"{abs(chosen.amount_pence - expected)} pence"
                    if differs
                    else f"payout {chosen.description}"
                )[:300],
            )
        )
    elif expected != 0:
        items.append(
            Item(
                Class.PAYOUT_MISSING,
                "PAYOUT",
                key,
                "",
                "",
                detail=f"provider's settled net {expected} pence is not on the statement",
            )
        )
    for line in remaining:
        items.append(
            Item(
                Class.UNMATCHED_CREDIT,
                "BANK",
                line.key,
                "",
                "",
                bank_pence=line.amount_pence,
                detail=f"{'credit' if line.amount_pence >= 0 else 'debit'} {line.description}"[:300],
            )
        )
    return items
