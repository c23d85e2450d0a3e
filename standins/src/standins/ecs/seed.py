"""Seed cases for the ECS simulator.

The references and vehicle marks are fixed so that a README, a demo script or
a manual tester can rely on them; every date is computed from `today` so that
a reduction that should still be open really is open on the day the simulator
starts (a seed with hard-coded dates would quietly go stale).

Amounts follow the ICD's "typical figures": 7A £80 reduced to £40 within 33
days, 144A £100 reduced to £50 within 21 days, 29KK £30 plus 1.5 times the tax
owed (2 times where a SORN was in force) with no reduction.

Plain Python: no Django, so the simulator can run as its own process.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from standins.ecs.model import (
    COURT,
    DEBT_RECOVERY,
    LONDON,
    NO_PAYMENT_REQUIRED,
    OPEN,
    PAID,
    PART_PAID,
    Case,
)

# (reference, vrm, one-line description). Kept beside `seed_cases` and checked
# against it by the tests, so the two cannot drift apart.
SAMPLE_CASES: tuple[tuple[str, str, str], ...] = (
    ("70000123", "BD51SMR", "7A, Ford blue: £80 reduced to £40 until today+20, no arrears, open"),
    ("70000246", "LK68HVW", "7A, Vauxhall silver: £80 reduced to £40 until today+25, plus £123.75 tax arrears"),
    ("70000369", "YR15TNO", "7A, Nissan red: reduction ended today-5, full £80 due"),
    ("29000481", "MA17PZL", "29KK, Volkswagen black: £30 + 1.5 × £95 tax = £172.50 plus £95 arrears, no reduction"),
    ("29001406", "ML21OKA", "29KK, Honda yellow, SORN in force: £30 + 2 × £62 tax = £154 plus £62 arrears"),
    ("14400517", "GX20LNE", "144A, Toyota white: £100 reduced to £50 until today+14"),
    ("14400628", "WP66RTY", "144A, BMW grey: £100 reduced to £50 until today+10, £20 already paid (part paid)"),
    ("14401399", "T5", "144A, Land Rover green, cherished mark: reduction ended yesterday, full £100 due"),
    ("70000734", "SN14DFE", "7A, Peugeot white: paid in full (£40) by phone two days ago"),
    ("70000857", "CU09KJH", "7A, Renault green: pay-by date passed, with debt recovery (closed)"),
    ("29000962", "EF11BBA", "29KK, Citroen blue: pay-by date passed, with the court (closed)"),
    ("70001075", "HN63OLP", "7A, Skoda silver: no payment required (SORN found after issue)"),
    ("23001188", "KT57WQA", "23B, Mercedes-Benz black: open but a case type not payable online"),
    ("70001292", "PO18ZXC", "7A, Kia red: reduction deadline is today (last day at £40)"),
)


def describe_seed() -> list[tuple[str, str, str]]:
    """(reference, vrm, description) for every seeded case, in seed order, for the README."""
    return list(SAMPLE_CASES)


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """A London wall-clock moment on `day` (tz-aware), for LastUpdated and seeded payments."""
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _tax_period_before(issue: date, months: int) -> tuple[date, date]:
    """An arrears period of roughly `months` whole months ending the month before `issue`."""
    arrears_to = _month_start(issue) - timedelta(days=1)
    start = arrears_to
    for _ in range(months):
        start = _month_start(start) - timedelta(days=1)
    return start + timedelta(days=1), arrears_to


def seed_cases(today: date) -> list[Case]:
    """The simulator's starting cases, with dates relative to `today` (a Europe/London date).

    A case with `amount_paid_pence > 0` is seeded by the simulator with one
    matching ledger entry (an earlier phone payment), so the ledger and
    `AmountPaidPence` agree from the start.
    """
    d = lambda days: today + timedelta(days=days)  # noqa: E731 - reads better than a helper here
    cases: list[Case] = []

    # 7A, reduction still open, nothing else owed.
    issue = d(-13)
    cases.append(
        Case(
            reference="70000123",
            case_type="7A",
            vrm="BD51SMR",
            vehicle_make="FORD",
            vehicle_colour="BLUE",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=d(20),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(48),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 7A with tax arrears for a period before the letter.
    issue = d(-8)
    arrears_from, arrears_to = _tax_period_before(issue, 8)
    cases.append(
        Case(
            reference="70000246",
            case_type="7A",
            vrm="LK68HVW",
            vehicle_make="VAUXHALL",
            vehicle_colour="SILVER",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=d(25),
            arrears_pence=12375,
            arrears_from=arrears_from,
            arrears_to=arrears_to,
            pay_by_date=d(53),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 7A past its reduction deadline: the full penalty is due.
    issue = d(-38)
    cases.append(
        Case(
            reference="70000369",
            case_type="7A",
            vrm="YR15TNO",
            vehicle_make="NISSAN",
            vehicle_colour="RED",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=d(-5),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(23),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 29KK: £30 + 1.5 x £95 tax owed = £172.50, no reduction, plus the £95 itself.
    issue = d(-10)
    arrears_from, arrears_to = _tax_period_before(issue, 6)
    cases.append(
        Case(
            reference="29000481",
            case_type="29KK",
            vrm="MA17PZL",
            vehicle_make="VOLKSWAGEN",
            vehicle_colour="BLACK",
            issue_date=issue,
            penalty_pence=3000 + 9500 * 3 // 2,
            reduced_penalty_pence=3000 + 9500 * 3 // 2,
            reduction_deadline=None,
            arrears_pence=9500,
            arrears_from=arrears_from,
            arrears_to=arrears_to,
            pay_by_date=d(18),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 29KK where a SORN was in force: £30 + 2 x £62 = £154.
    issue = d(-4)
    arrears_from, arrears_to = _tax_period_before(issue, 4)
    cases.append(
        Case(
            reference="29001406",
            case_type="29KK",
            vrm="ML21OKA",
            vehicle_make="HONDA",
            vehicle_colour="YELLOW",
            issue_date=issue,
            penalty_pence=3000 + 6200 * 2,
            reduced_penalty_pence=3000 + 6200 * 2,
            reduction_deadline=None,
            arrears_pence=6200,
            arrears_from=arrears_from,
            arrears_to=arrears_to,
            pay_by_date=d(24),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 144A, reduction open (21 days from issue).
    issue = d(-7)
    cases.append(
        Case(
            reference="14400517",
            case_type="144A",
            vrm="GX20LNE",
            vehicle_make="TOYOTA",
            vehicle_colour="WHITE",
            issue_date=issue,
            penalty_pence=10000,
            reduced_penalty_pence=5000,
            reduction_deadline=d(14),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(21),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 144A part paid: £20 by phone yesterday, £30 still due at the reduced rate.
    issue = d(-11)
    cases.append(
        Case(
            reference="14400628",
            case_type="144A",
            vrm="WP66RTY",
            vehicle_make="BMW",
            vehicle_colour="GREY",
            issue_date=issue,
            penalty_pence=10000,
            reduced_penalty_pence=5000,
            reduction_deadline=d(10),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(17),
            status=PART_PAID,
            amount_paid_pence=2000,
            last_updated=_at(d(-1), 11, 20),
        )
    )

    # 144A past its reduction deadline, with a short cherished mark.
    issue = d(-22)
    cases.append(
        Case(
            reference="14401399",
            case_type="144A",
            vrm="T5",
            vehicle_make="LAND ROVER",
            vehicle_colour="GREEN",
            issue_date=issue,
            penalty_pence=10000,
            reduced_penalty_pence=5000,
            reduction_deadline=d(-1),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(6),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # 7A already paid in full at the reduced rate.
    issue = d(-30)
    cases.append(
        Case(
            reference="70000734",
            case_type="7A",
            vrm="SN14DFE",
            vehicle_make="PEUGEOT",
            vehicle_colour="WHITE",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=d(3),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(31),
            status=PAID,
            amount_paid_pence=4000,
            last_updated=_at(d(-2), 14, 5),
        )
    )

    # 7A escalated to debt recovery after its pay-by date.
    issue = d(-120)
    arrears_from, arrears_to = _tax_period_before(issue, 5)
    cases.append(
        Case(
            reference="70000857",
            case_type="7A",
            vrm="CU09KJH",
            vehicle_make="RENAULT",
            vehicle_colour="GREEN",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=issue + timedelta(days=33),
            arrears_pence=6125,
            arrears_from=arrears_from,
            arrears_to=arrears_to,
            pay_by_date=issue + timedelta(days=61),
            status=DEBT_RECOVERY,
            amount_paid_pence=0,
            last_updated=_at(issue + timedelta(days=62), 2, 15),
        )
    )

    # 29KK escalated to court after its pay-by date.
    issue = d(-75)
    arrears_from, arrears_to = _tax_period_before(issue, 7)
    cases.append(
        Case(
            reference="29000962",
            case_type="29KK",
            vrm="EF11BBA",
            vehicle_make="CITROEN",
            vehicle_colour="BLUE",
            issue_date=issue,
            penalty_pence=3000 + 8000 * 3 // 2,
            reduced_penalty_pence=3000 + 8000 * 3 // 2,
            reduction_deadline=None,
            arrears_pence=8000,
            arrears_from=arrears_from,
            arrears_to=arrears_to,
            pay_by_date=issue + timedelta(days=28),
            status=COURT,
            amount_paid_pence=0,
            last_updated=_at(issue + timedelta(days=29), 2, 15),
        )
    )

    # 7A cancelled: nothing to pay.
    issue = d(-20)
    cases.append(
        Case(
            reference="70001075",
            case_type="7A",
            vrm="HN63OLP",
            vehicle_make="SKODA",
            vehicle_colour="SILVER",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=d(13),
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(41),
            status=NO_PAYMENT_REQUIRED,
            amount_paid_pence=0,
            last_updated=_at(d(-3), 9, 40),
        )
    )

    # A case type that exists in ECS but cannot be paid online.
    issue = d(-9)
    cases.append(
        Case(
            reference="23001188",
            case_type="23B",
            vrm="KT57WQA",
            vehicle_make="MERCEDES-BENZ",
            vehicle_colour="BLACK",
            issue_date=issue,
            penalty_pence=10000,
            reduced_penalty_pence=10000,
            reduction_deadline=None,
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(19),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    # Boundary: today is the last day the reduced amount is accepted.
    issue = d(-33)
    cases.append(
        Case(
            reference="70001292",
            case_type="7A",
            vrm="PO18ZXC",
            vehicle_make="KIA",
            vehicle_colour="RED",
            issue_date=issue,
            penalty_pence=8000,
            reduced_penalty_pence=4000,
            reduction_deadline=today,
            arrears_pence=0,
            arrears_from=None,
            arrears_to=None,
            pay_by_date=d(28),
            status=OPEN,
            amount_paid_pence=0,
            last_updated=_at(issue, 6),
        )
    )

    return cases
