from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from penaltypay.cases.domain import (
    COURT,
    DEBT_RECOVERY,
    NO_PAYMENT_REQUIRED,
    PAID,
    PART_PAID,
    NotPayableReason,
    amount_due_at,
    why_not_payable,
)
from penaltypay.kernel.clock import LONDON, london_date
from tests.factories import late_licensing_case, out_of_court_case


def london(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


class TestReductionDeadline:
    def test_reduced_amount_on_the_deadline_day_itself(self):
        due = amount_due_at(late_licensing_case(), london(2026, 12, 14, 23, 59, 59))
        assert (due.total_pence, due.reduced, due.penalty_pence) == (4000, True, 4000)

    def test_full_amount_from_the_first_moment_of_the_day_after(self):
        due = amount_due_at(late_licensing_case(), london(2026, 12, 15, 0, 0, 0))
        assert (due.total_pence, due.reduced) == (8000, False)

    def test_deadline_is_a_london_date_not_a_utc_one_in_summer_time(self):
        # 23:30 UTC on 14 June is 00:30 on 15 June in London (BST): the deadline has passed.
        case = late_licensing_case(reduction_deadline=date(2026, 6, 14))
        assert amount_due_at(case, datetime(2026, 6, 14, 23, 30, tzinfo=UTC)).total_pence == 8000
        # 22:59 UTC on 14 June is 23:59 in London: still reduced.
        assert amount_due_at(case, datetime(2026, 6, 14, 22, 59, tzinfo=UTC)).total_pence == 4000

    def test_across_the_autumn_clock_change(self):
        # Clocks go back at 02:00 BST on 25 October 2026. 23:30 UTC on 25 Oct is 23:30 GMT: same day.
        case = late_licensing_case(reduction_deadline=date(2026, 10, 25))
        assert amount_due_at(case, datetime(2026, 10, 25, 23, 30, tzinfo=UTC)).total_pence == 4000
        # ...whereas 23:30 UTC on 24 Oct was already 00:30 BST on 25 Oct: still within the deadline.
        assert london_date(datetime(2026, 10, 24, 23, 30, tzinfo=UTC)) == date(2026, 10, 25)

    def test_no_deadline_means_the_full_penalty(self):
        case = late_licensing_case(reduction_deadline=None, reduced_penalty_pence=8000)
        due = amount_due_at(case, london(2026, 11, 24, 12))
        assert (due.total_pence, due.reduced) == (8000, False)

    def test_naive_datetime_is_refused(self):
        with pytest.raises(ValueError):
            amount_due_at(late_licensing_case(), datetime(2026, 12, 14, 12))


class TestParts:
    def test_arrears_are_added_to_the_penalty(self):
        due = amount_due_at(out_of_court_case(), london(2026, 11, 24, 12))
        assert due.penalty_pence == 15375
        assert due.arrears_pence == 8250
        assert due.total_pence == 15375 + 8250

    def test_part_paid_case_owes_the_remainder(self):
        case = late_licensing_case(status=PART_PAID, amount_paid_pence=2500)
        due = amount_due_at(case, london(2026, 11, 24, 12))
        assert (due.total_pence, due.already_paid_pence) == (1500, 2500)

    def test_money_we_took_that_ecs_has_not_recorded_counts_as_paid(self):
        due = amount_due_at(late_licensing_case(), london(2026, 11, 24, 12), pending_paid_pence=4000)
        assert due.total_pence == 0

    def test_never_below_zero_when_paid_more_than_due(self):
        case = late_licensing_case(amount_paid_pence=9000)
        assert amount_due_at(case, london(2026, 12, 20, 12)).total_pence == 0

    @given(
        penalty=st.integers(0, 99_999_999),
        reduction=st.integers(0, 99_999_999),
        arrears=st.integers(0, 99_999_999),
        paid=st.integers(0, 99_999_999),
        day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    )
    def test_total_is_the_icd_rule_for_any_figures(self, penalty, reduction, arrears, paid, day):
        reduced = min(reduction, penalty)
        case = late_licensing_case(
            penalty_pence=penalty, reduced_penalty_pence=reduced, arrears_pence=arrears, amount_paid_pence=paid
        )
        at = london(day.year, day.month, day.day, 12)
        expected_penalty = reduced if day <= case.reduction_deadline else penalty
        assert amount_due_at(case, at).total_pence == max(0, expected_penalty + arrears - paid)


class TestPayability:
    now = london(2026, 11, 24, 12)

    def test_open_case_with_money_due_is_payable(self):
        assert why_not_payable(late_licensing_case(), self.now) is None

    @pytest.mark.parametrize(
        "status,reason",
        [
            (DEBT_RECOVERY, NotPayableReason.DEBT_RECOVERY),
            (COURT, NotPayableReason.COURT),
            (NO_PAYMENT_REQUIRED, NotPayableReason.NO_PAYMENT_REQUIRED),
        ],
    )
    def test_closed_statuses_are_not_payable_here(self, status, reason):
        assert why_not_payable(late_licensing_case(status=status), self.now) is reason

    def test_paid_case(self):
        case = late_licensing_case(status=PAID, amount_paid_pence=4000)
        assert why_not_payable(case, self.now) is NotPayableReason.ALREADY_PAID

    def test_other_case_types_are_not_payable_online(self):
        assert (
            why_not_payable(late_licensing_case(case_type="23B"), self.now) is NotPayableReason.TYPE_NOT_PAYABLE_ONLINE
        )

    def test_nothing_due_without_any_payment(self):
        case = late_licensing_case(penalty_pence=0, reduced_penalty_pence=0)
        assert why_not_payable(case, self.now) is NotPayableReason.NOTHING_DUE

    def test_our_own_unrecorded_payment_makes_it_already_paid(self):
        assert (
            why_not_payable(late_licensing_case(), self.now, pending_paid_pence=4000) is NotPayableReason.ALREADY_PAID
        )


def test_amount_after_the_reduction_is_the_full_penalty_less_payments():
    from penaltypay.cases.domain import amount_due_after_reduction

    at = london(2026, 11, 24, 12)
    assert amount_due_after_reduction(late_licensing_case(), at).total_pence == 8000
    assert amount_due_after_reduction(late_licensing_case(amount_paid_pence=1000), at).total_pence == 7000
    no_reduction = late_licensing_case(reduction_deadline=None)
    assert amount_due_after_reduction(no_reduction, at).total_pence == 8000  # what is due at `at`
