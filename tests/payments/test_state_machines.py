"""The payment and refund state machines say why: every allowed move is named by the event
that causes it, every status can be reached, and nothing else is allowed."""

from __future__ import annotations

import pytest

from penaltypay.payments.domain import (
    FINAL_STATUSES,
    MOVES,
    IllegalTransition,
    PaymentStatus,
    check_transition,
)
from penaltypay.payments.refund_rules import REFUND_MOVES, RefundStatus, move_allowed


def reachable(start, moves) -> set:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for move in moves:
            if move.source is here and move.target not in seen:
                seen.add(move.target)
                todo.append(move.target)
    return seen


@pytest.mark.parametrize(
    ("moves", "start", "statuses"),
    [(MOVES, PaymentStatus.NEW, PaymentStatus), (REFUND_MOVES, RefundStatus.REQUESTED, RefundStatus)],
)
def test_every_status_is_reachable_and_every_move_named_once(moves, start, statuses):
    assert reachable(start, moves) == set(statuses)
    assert all(move.event.strip() for move in moves)
    pairs = [(move.source, move.target) for move in moves]
    assert len(pairs) == len(set(pairs)), "one event per move"


def test_only_the_payment_moves_in_the_table_are_allowed():
    table = {(move.source, move.target) for move in MOVES}
    for current in PaymentStatus:
        for target in PaymentStatus:
            if current == target:
                assert check_transition(current, target) is False  # a repeat changes nothing
            elif (current, target) in table:
                assert check_transition(current, target) is True
            else:
                with pytest.raises(IllegalTransition):
                    check_transition(current, target)


def test_a_finished_payment_never_changes_but_an_abandoned_create_found_paid():
    leaving_final = {(m.source, m.target) for m in MOVES if m.source in FINAL_STATUSES}
    assert leaving_final == {(PaymentStatus.ABANDONED, PaymentStatus.SUCCESS)}


def test_only_the_refund_moves_in_the_table_are_allowed():
    table = {(move.source, move.target) for move in REFUND_MOVES}
    for current in RefundStatus:
        for target in RefundStatus:
            assert move_allowed(current, target) == ((current, target) in table)
