"""Refundable-amount arithmetic and four eyes, as plain rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from penaltypay.payments.refund_rules import (
    HOLDS_MONEY,
    RefundRuleBroken,
    RefundStatus,
    check_decider,
    check_request,
    excess_pence,
    new_refund_reference,
    refundable_pence,
)


@given(
    paid=st.integers(min_value=1, max_value=10_000_000),
    asks=st.lists(
        st.tuples(st.integers(min_value=-5, max_value=10_000_000), st.sampled_from(list(RefundStatus))), max_size=30
    ),
)
def test_no_sequence_of_partial_refunds_ever_exceeds_the_payment(paid, asks):
    """Whatever finance asks for, in any order, with any outcome: what is asked back
    (and not given back by a rejection or failure) never exceeds what was paid."""
    accepted: list[tuple[int, RefundStatus]] = []
    for amount, outcome in asks:
        remaining = refundable_pence(paid, accepted)
        try:
            check_request(amount, remaining)
        except RefundRuleBroken:
            assert amount < 1 or amount > remaining
            continue
        accepted.append((amount, outcome))
        held = sum(a for a, status in accepted if status in HOLDS_MONEY)
        assert held <= paid
        assert refundable_pence(paid, accepted) == paid - held


def test_rejected_refused_and_failed_refunds_give_their_amount_back():
    refunds = [
        (1000, RefundStatus.REJECTED),
        (1000, RefundStatus.REFUSED),
        (1000, RefundStatus.ERROR),
        (500, RefundStatus.SUCCESS),
        (500, RefundStatus.REQUESTED),
    ]
    assert refundable_pence(4000, refunds) == 3000


@pytest.mark.parametrize(
    ("amount", "remaining", "message"),
    [(0, 4000, "at least 1p"), (4001, 4000, "£40 or less"), (1, 0, "Nothing is left"), (2550, 2549, "£25.49 or less")],
)
def test_a_refund_that_is_too_big_or_too_small_says_why(amount, remaining, message):
    with pytest.raises(RefundRuleBroken, match=message):
        check_request(amount, remaining)


def test_nobody_decides_their_own_refund():
    with pytest.raises(RefundRuleBroken, match="another finance user"):
        check_decider("a.smith", "A.Smith")
    check_decider("a.smith", "b.jones")


def test_references_and_excess():
    reference = new_refund_reference()
    assert reference.startswith("RF-") and len(reference) == 12
    assert excess_pence(4000, 8000) == 4000 and excess_pence(4000, 3000) == 0
