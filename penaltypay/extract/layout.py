"""The nightly extract's fixed-width layout (ICD section 2), and how to write one.

Plain Python, no Django. The reader (`parser`) and the writer here share these
constants, so the generator, the tests and the importer agree on every column.
"""

from __future__ import annotations

import re
from datetime import date

from penaltypay.cases.domain import (
    COURT,
    DEBT_RECOVERY,
    NO_PAYMENT_REQUIRED,
    OPEN,
    PAID,
    PART_PAID,
    Case,
)

RECORD_LENGTH = 150
LINE_END = b"\r\n"
LINE_LENGTH = RECORD_LENGTH + len(LINE_END)

SOURCE_SYSTEM = b"ECS     "  # header columns 16-23

# File names: ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT, exactly (upper case, no path).
FILE_NAME = re.compile(r"ECS_EXTRACT_(?P<date>[0-9]{8})_(?P<sequence>[0-9]{6})\.DAT")

# Status letters (detail column 118) and the ECS statuses they stand for.
STATUS_BY_CODE = {
    "O": OPEN,
    "R": PART_PAID,
    "P": PAID,
    "D": DEBT_RECOVERY,
    "C": COURT,
    "N": NO_PAYMENT_REQUIRED,
}
CODE_BY_STATUS = {status: code for code, status in STATUS_BY_CODE.items()}

# Dates the importer accepts: real Gregorian dates in these years (docs/extract-import.md).
FIRST_YEAR = 1900
LAST_YEAR = 2099

# Detail columns as Python slices (ICD columns are 1-based and inclusive).
REFERENCE = slice(1, 9)
CASE_TYPE = slice(9, 13)
VRM = slice(13, 20)
VEHICLE_MAKE = slice(20, 40)
VEHICLE_COLOUR = slice(40, 50)
ISSUE_DATE = slice(50, 58)
PENALTY = slice(58, 67)
REDUCED_PENALTY = slice(67, 76)
REDUCTION_DEADLINE = slice(76, 84)
ARREARS = slice(84, 93)
ARREARS_FROM = slice(93, 101)
ARREARS_TO = slice(101, 109)
PAY_BY_DATE = slice(109, 117)
STATUS = slice(117, 118)
AMOUNT_PAID = slice(118, 127)
RESERVED = slice(127, 150)

AMOUNT_DIGITS = 9
MAX_AMOUNT = 10**AMOUNT_DIGITS - 1
TRAILER_TOTAL_DIGITS = 15


def file_name(extract_date: date, sequence: int) -> str:
    return f"ECS_EXTRACT_{extract_date:%Y%m%d}_{sequence:06d}.DAT"


def _date(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value is not None else " " * 8


def format_header(extract_date: date, sequence: int) -> bytes:
    record = f"H{extract_date:%Y%m%d}{sequence:06d}{SOURCE_SYSTEM.decode()}".ljust(RECORD_LENGTH)
    return record.encode("ascii")


def format_trailer(count: int, total_penalty_pence: int) -> bytes:
    record = f"T{count:09d}{total_penalty_pence:015d}".ljust(RECORD_LENGTH)
    return record.encode("ascii")


def format_detail(case: Case) -> bytes:
    """One detail record for a case (no line end). Raises ValueError for a value the
    layout cannot hold (a field too long, an amount too large, an unknown status)."""
    for name, value, width in (
        ("reference", case.reference, 8),
        ("case_type", case.case_type, 4),
        ("vrm", case.vrm, 7),
        ("vehicle_make", case.vehicle_make, 20),
        ("vehicle_colour", case.vehicle_colour, 10),
    ):
        if len(value) > width:
            raise ValueError(f"{name} is longer than {width} characters")
    for name, amount in (
        ("penalty_pence", case.penalty_pence),
        ("reduced_penalty_pence", case.reduced_penalty_pence),
        ("arrears_pence", case.arrears_pence),
        ("amount_paid_pence", case.amount_paid_pence),
    ):
        if not 0 <= amount <= MAX_AMOUNT:
            raise ValueError(f"{name} does not fit in {AMOUNT_DIGITS} digits")
    record = (
        "D"
        + case.reference.rjust(8, "0")
        + case.case_type.ljust(4)
        + case.vrm.ljust(7)
        + case.vehicle_make.ljust(20)
        + case.vehicle_colour.ljust(10)
        + _date(case.issue_date)
        + f"{case.penalty_pence:09d}"
        + f"{case.reduced_penalty_pence:09d}"
        + _date(case.reduction_deadline)
        + f"{case.arrears_pence:09d}"
        + _date(case.arrears_from)
        + _date(case.arrears_to)
        + _date(case.pay_by_date)
        + CODE_BY_STATUS[case.status]
        + f"{case.amount_paid_pence:09d}"
    ).ljust(RECORD_LENGTH)
    return record.encode("ascii")
