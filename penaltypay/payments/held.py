"""The one rule for money held against a case, in plain Python.

ECS's `AmountPaidPence` counts what its ledger holds. What we know and it does not yet is
added to (or taken from) it, so that the amount due is what ECS will say once everything
on its way has arrived — never counting a payment twice, never hiding one:

- a successful payment ECS has not recorded counts, less its successful refunds (they go
  to ECS after it, in the case's order);
- a payment ECS already holds counts nothing more, but its successful refunds ECS has not
  recorded yet are taken off (ECS will take them off when they arrive);
- a payment a person resolved as never going to ECS (refused, dealt with outside ECS)
  counts nothing, and nor do its refunds;
- a live payment (the keeper is on the card page) is held too, separately: nobody else may
  start one for the case meanwhile, but it is not money taken.

Every reader — the keeper's pages, phone payments, the API, reconciliation, exceptions and
the staff case page — goes through `held` (penaltypay.payments.queries.held_against).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RefundFact:
    amount_pence: int
    succeeded: bool  # the money went back; otherwise asked for or on its way (not failed)
    in_ecs: bool


@dataclass(frozen=True)
class PaymentFact:
    amount_pence: int
    live: bool = False
    succeeded: bool = False
    in_ecs: bool = False
    never_to_ecs: bool = False
    refunds: tuple[RefundFact, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Held:
    """`pending_pence`: taken, and not in ECS's AmountPaid yet (negative when refunds ECS
    has not heard of outweigh it). `live_pence`: on a card page right now.
    `refunding_pence`: refunds asked for or on their way, not yet made (already promised
    back: an over-payment is not counted twice)."""

    pending_pence: int
    live_pence: int
    refunding_pence: int = 0

    def paid_in_all(self, ecs_paid_pence: int) -> int:
        """What the case will have been paid once everything on its way reaches ECS (whose
        ledger says `ecs_paid_pence` now), less refunds already asked for: what an
        over-payment is measured on."""
        return ecs_paid_pence + self.pending_pence - self.refunding_pence


def held(payments: Iterable[PaymentFact]) -> Held:
    pending = live = refunding = 0
    for payment in payments:
        if payment.live:
            live += payment.amount_pence
            continue
        if not payment.succeeded or payment.never_to_ecs:
            continue
        refunds_on_their_way = sum(r.amount_pence for r in payment.refunds if r.succeeded and not r.in_ecs)
        pending += (0 if payment.in_ecs else payment.amount_pence) - refunds_on_their_way
        refunding += sum(r.amount_pence for r in payment.refunds if not r.succeeded)
    return Held(pending_pence=pending, live_pence=live, refunding_pence=refunding)


def share_out(amount_pence: int, line_amounts: list[int]) -> list[int]:
    """Money taken back from a whole payment (a lost dispute), shared over its lines in
    order, each up to what it paid: what goes back on each penalty's case."""
    shares = []
    left = amount_pence
    for line in line_amounts:
        part = max(0, min(line, left))
        shares.append(part)
        left -= part
    return shares
