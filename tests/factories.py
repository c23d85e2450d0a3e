"""Realistic cases for tests (figures as on real letters), overridable per test."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from penaltypay.cases.domain import OPEN, Case


def late_licensing_case(**overrides) -> Case:
    """A 7A: £80, reduced to £40 until the reduction deadline, no arrears."""
    case = Case(
        reference="40012345",
        case_type="7A",
        vrm="AB12CDE",
        vehicle_make="FORD",
        vehicle_colour="BLUE",
        issue_date=date(2026, 11, 10),
        penalty_pence=8000,
        reduced_penalty_pence=4000,
        reduction_deadline=date(2026, 12, 14),
        arrears_pence=0,
        arrears_from=None,
        arrears_to=None,
        pay_by_date=date(2027, 1, 10),
        status=OPEN,
        amount_paid_pence=0,
    )
    return replace(case, **overrides)


def out_of_court_case(**overrides) -> Case:
    """A 29KK: £30 plus 1.5 × £82.50 tax owed, no reduction."""
    case = late_licensing_case(
        reference="29000001",
        case_type="29KK",
        vrm="KX19ABC",
        penalty_pence=3000 + 12375,
        reduced_penalty_pence=3000 + 12375,
        reduction_deadline=None,
        arrears_pence=8250,
        arrears_from=date(2026, 5, 1),
        arrears_to=date(2026, 10, 31),
    )
    return replace(case, **overrides)
