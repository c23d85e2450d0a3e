import pytest

from penaltypay.payments.domain import (
    FINAL_STATUSES,
    IllegalTransition,
    check_transition,
    new_payment_reference,
    status_from_provider,
)
from penaltypay.payments.domain import (
    PaymentStatus as S,
)


@pytest.mark.parametrize(
    "current,target",
    [
        (S.NEW, S.IN_PROGRESS),
        (S.NEW, S.CREATE_UNKNOWN),
        (S.NEW, S.CREATE_FAILED),
        (S.CREATE_UNKNOWN, S.IN_PROGRESS),
        (S.CREATE_UNKNOWN, S.ABANDONED),
        (S.IN_PROGRESS, S.SUCCESS),
        (S.IN_PROGRESS, S.FAILED),
        (S.IN_PROGRESS, S.CANCELLED),
        (S.IN_PROGRESS, S.ERROR),
        (S.ABANDONED, S.SUCCESS),
    ],
)
def test_allowed_moves(current, target):
    assert check_transition(current, target) is True


@pytest.mark.parametrize(
    "current,target",
    [
        (S.SUCCESS, S.FAILED),
        (S.FAILED, S.SUCCESS),
        (S.CANCELLED, S.IN_PROGRESS),
        (S.ERROR, S.SUCCESS),
        (S.IN_PROGRESS, S.NEW),
        (S.IN_PROGRESS, S.ABANDONED),
        (S.CREATE_FAILED, S.IN_PROGRESS),
        (S.ABANDONED, S.IN_PROGRESS),
    ],
)
def test_refused_moves(current, target):
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


@pytest.mark.parametrize("status", sorted(S, key=lambda s: s.value))
def test_repeating_the_current_state_changes_nothing(status):
    assert check_transition(status, status) is False


def test_a_finished_payment_never_moves_except_an_abandoned_one_found_paid():
    for final in FINAL_STATUSES:
        for target in S:
            if target == final or (final is S.ABANDONED and target is S.SUCCESS):
                continue
            with pytest.raises(IllegalTransition):
                check_transition(final, target)


@pytest.mark.parametrize(
    "provider,ours",
    [
        ("created", S.IN_PROGRESS),
        ("started", S.IN_PROGRESS),
        ("submitted", S.IN_PROGRESS),
        ("capturable", S.IN_PROGRESS),
        ("success", S.SUCCESS),
        ("failed", S.FAILED),
        ("cancelled", S.CANCELLED),
        ("error", S.ERROR),
    ],
)
def test_provider_states_map_to_ours(provider, ours):
    assert status_from_provider(provider) is ours


def test_unknown_provider_state_is_refused():
    with pytest.raises(ValueError):
        status_from_provider("refunded")


def test_payment_references_fit_ecs_and_are_unique():
    refs = {new_payment_reference() for _ in range(2000)}
    assert len(refs) == 2000
    for ref in refs:
        assert len(ref) == 12 and ref.startswith("PP-")
        assert all(c.isalnum() or c == "-" for c in ref)
