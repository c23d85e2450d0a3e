"""The one rule for money held against a case (penaltypay.payments.held), property-tested
over any sequence of payments, refunds, ECS recording them, ECS refusing a payment and a
person resolving it as never going to ECS: what ECS holds now plus what we hold is what
ECS will hold once everything on its way has arrived — the amount due shown never counts
a payment twice and never hides money ECS will receive."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from penaltypay.payments.held import PaymentFact, RefundFact, held


@dataclass
class Refund:
    amount: int
    in_ecs: bool = False


@dataclass
class Payment:
    amount: int
    live: bool = False
    in_ecs: bool = False
    refused: bool = False  # ECS refused it: an exception waiting for a person
    never: bool = False  # a person resolved it as never going to ECS
    refunds: list[Refund] = field(default_factory=list)

    @property
    def refundable(self) -> int:
        return self.amount - sum(r.amount for r in self.refunds)

    def fact(self) -> PaymentFact:
        return PaymentFact(
            self.amount,
            live=self.live,
            succeeded=not self.live,
            in_ecs=self.in_ecs,
            never_to_ecs=self.never,
            refunds=tuple(RefundFact(r.amount, succeeded=True, in_ecs=r.in_ecs) for r in self.refunds),
        )


def ecs_holds(payments: list[Payment]) -> int:
    return sum(p.amount for p in payments if p.in_ecs) - sum(r.amount for p in payments for r in p.refunds if r.in_ecs)


def ecs_will_hold(payments: list[Payment]) -> int:
    """Once every event on its way has arrived (a refused payment waiting for a person counts
    as on its way: until someone resolves it, it may yet be sent)."""
    return sum(p.amount - sum(r.amount for r in p.refunds) for p in payments if not p.live and not p.never)


OPS = st.sampled_from(["pay", "live", "finish", "refund", "deliver", "refuse", "resolve", "requeue"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(OPS, st.integers(0, 20), st.integers(1, 9000)), max_size=40))
def test_what_ecs_holds_plus_what_we_hold_is_what_ecs_will_hold(steps):
    payments: list[Payment] = []
    for op, which, amount in steps:
        chosen = payments[which % len(payments)] if payments else None
        if op == "pay":
            payments.append(Payment(amount))
        elif op == "live" and not any(p.live for p in payments):
            payments.append(Payment(amount, live=True))
        elif op == "finish" and chosen and chosen.live:
            chosen.live = False  # the keeper completed the card page
        elif op == "refund" and chosen and not chosen.live and chosen.refundable > 0:
            chosen.refunds.append(Refund(min(amount, chosen.refundable)))
        elif op == "deliver" and chosen and not chosen.live and not chosen.refused and not chosen.never:
            # ECS records the case's next event in order: the payment, then its refunds.
            if not chosen.in_ecs:
                chosen.in_ecs = True
            else:
                waiting = [r for r in chosen.refunds if not r.in_ecs]
                if waiting:
                    waiting[0].in_ecs = True
        elif op == "refuse" and chosen and not chosen.live and not chosen.in_ecs and not chosen.never:
            chosen.refused = True
        elif op == "resolve" and chosen and chosen.refused:
            chosen.refused, chosen.never = False, True
        elif op == "requeue" and chosen and chosen.refused:
            chosen.refused = False

        result = held(p.fact() for p in payments)
        assert ecs_holds(payments) + result.pending_pence == ecs_will_hold(payments)
        assert result.live_pence == sum(p.amount for p in payments if p.live)


def test_a_payment_ecs_never_recorded_and_refunded_in_full_counts_nothing():
    refused_then_refunded = Payment(4000, refunds=[Refund(4000)])
    assert held([refused_then_refunded.fact()]).pending_pence == 0
    refused_then_resolved = Payment(4000, never=True)
    assert held([refused_then_resolved.fact()]).pending_pence == 0
