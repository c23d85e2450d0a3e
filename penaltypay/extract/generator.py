"""Realistic extracts of any size (`penaltypay generate-extract`, the benchmark, tests).

Plain Python, no Django; streams to disk, so memory does not grow with the count.
The mix follows the ICD's typical figures: `7A` £80 reduced to £40 within 33 days
(some with tax arrears), `144A` £100 reduced to £50 within 21 days, `29KK` £30 plus
1.5 (or, with a SORN, 2) times the tax owed with the arrears and their period, a
few other case types; issue dates over the last two years, statuses that fit the
dates (escalated after the pay-by date), amounts paid that fit the status.

References: record `i` gets `(OFFSET + i * STEP) mod 10^8`, which never repeats for
fewer than 10^8 records, so two files generated with overlapping `first_index`
ranges share references (a nightly file updating cases of a first load).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from penaltypay.extract import layout

REF_OFFSET = 10_000_019
REF_STEP = 7_654_321  # odd and not a multiple of 5: coprime with 10^8
BATCH = 10_000

MAKES = [
    b"FORD",
    b"VAUXHALL",
    b"VOLKSWAGEN",
    b"BMW",
    b"AUDI",
    b"TOYOTA",
    b"NISSAN",
    b"MERCEDES-BENZ",
    b"PEUGEOT",
    b"KIA",
    b"HYUNDAI",
    b"RENAULT",
    b"SKODA",
    b"HONDA",
    b"CITROEN",
    b"LAND ROVER",
    b"MINI",
    b"FIAT",
    b"VOLVO",
    b"MAZDA",
    b"SEAT",
    b"TESLA",
    b"SUZUKI",
    b"DACIA",
    b"JAGUAR",
]
COLOURS = [b"BLACK", b"WHITE", b"SILVER", b"GREY", b"BLUE", b"RED", b"GREEN", b"YELLOW", b"ORANGE", b"BROWN", b"BEIGE"]
OTHER_TYPES = [b"23B", b"30", b"38", b"9B", b"CT1"]
LETTERS = b"ABCDEFGHJKLMNOPRSTUVWXYZ"
PREFIX_LETTERS = b"ABCDEFGHJKLMNPRSTVWXY"

BAD_KINDS = (
    "reference",
    "issue_date",
    "reduced_above_penalty",
    "deadline_without_reduction",
    "status",
    "length",
    "vrm",
    "arrears_period",
)


@dataclass(frozen=True)
class GeneratedExtract:
    path: Path
    count: int
    bad: int
    total_penalty_pence: int


def reference_for(index: int) -> bytes:
    return b"%08d" % ((REF_OFFSET + index * REF_STEP) % 100_000_000)


class _Days:
    """YYYYMMDD of days around the extract date, formatted once."""

    def __init__(self, extract_date: date, before: int = 1500, after: int = 200):
        self.before = before
        self.values = [
            (extract_date + timedelta(days=k - before)).strftime("%Y%m%d").encode("ascii")
            for k in range(before + after)
        ]

    def __call__(self, offset: int) -> bytes:
        return self.values[offset + self.before]


def _vrm(rnd: random.Random) -> bytes:
    kind = rnd.random()
    letter = LETTERS.__getitem__
    if kind < 0.85:  # current: AB12CDE
        return (
            bytes((letter(rnd.randrange(24)), letter(rnd.randrange(24))))
            + b"%02d" % rnd.randrange(2, 75)
            + bytes(letter(rnd.randrange(24)) for _ in range(3))
        )
    if kind < 0.95:  # prefix: A123BCD
        return (
            bytes((PREFIX_LETTERS[rnd.randrange(21)],))
            + b"%d" % rnd.randrange(1, 1000)
            + bytes(letter(rnd.randrange(24)) for _ in range(3))
        )
    return bytes((letter(rnd.randrange(24)),)) + b"%d" % rnd.randrange(1, 100)  # cherished: T5


def _case(rnd: random.Random, index: int, days: _Days) -> tuple:
    """(reference, type, vrm, make, colour, issue, penalty, reduced, deadline, arrears, from, to, pay_by,
    status, paid)"""
    issue_offset = -rnd.randrange(0, 730)
    kind = rnd.random()
    arrears = 0
    a_from = a_to = b"        "
    deadline = b"        "
    if kind < 0.50:
        case_type, penalty, reduced, reduce_days, pay_days = b"7A", 8000, 4000, 33, 61
        if rnd.random() < 0.3:
            arrears = rnd.randrange(1500, 40000, 25)
            start = issue_offset - rnd.randrange(60, 400)
            a_from, a_to = days(start), days(issue_offset - rnd.randrange(1, 30))
    elif kind < 0.75:
        case_type, penalty, reduced, reduce_days, pay_days = b"144A", 10000, 5000, 21, 42
    elif kind < 0.95:
        case_type, reduce_days, pay_days = b"29KK", 0, 28
        arrears = rnd.randrange(1000, 30000, 25)
        factor = 2.0 if rnd.random() < 0.15 else 1.5
        penalty = reduced = 3000 + int(arrears * factor)
        start = issue_offset - rnd.randrange(60, 400)
        a_from, a_to = days(start), days(issue_offset - rnd.randrange(1, 30))
    else:
        case_type, reduce_days, pay_days = OTHER_TYPES[rnd.randrange(len(OTHER_TYPES))], 0, 28
        penalty = reduced = rnd.randrange(5000, 25000, 500)
    if reduce_days:
        deadline = days(issue_offset + reduce_days)
    pay_by_offset = issue_offset + pay_days
    due = (reduced if reduce_days and -issue_offset <= reduce_days else penalty) + arrears
    roll = rnd.random()
    if pay_by_offset < 0 and roll < 0.6:
        status = b"D" if case_type == b"7A" else b"C"
        paid = 0 if rnd.random() < 0.8 else rnd.randrange(100, max(101, due // 2))
    elif roll < 0.72:
        status, paid = b"O", 0
    elif roll < 0.80:
        status, paid = b"R", rnd.randrange(100, max(101, due - 100))
    elif roll < 0.97:
        status, paid = b"P", due
    else:
        status, paid = b"N", 0
    return (
        reference_for(index),
        case_type,
        _vrm(rnd),
        MAKES[rnd.randrange(len(MAKES))],
        COLOURS[rnd.randrange(len(COLOURS))],
        days(issue_offset),
        penalty,
        reduced,
        deadline,
        arrears,
        a_from,
        a_to,
        days(pay_by_offset),
        status,
        paid,
    )


_FORMAT = b"D%s%-4s%-7s%-20s%-10s%s%09d%09d%s%09d%s%s%s%s%09d" + b" " * 23


def _break(record: bytes, kind: str, fields: tuple) -> bytes:
    """A record that breaks one field rule; its penalty amount (columns 59-67) is kept,
    so the trailer total still agrees."""
    if kind == "reference":
        return record[:1] + b"A" + record[2:]
    if kind == "issue_date":
        return record[:50] + b"20250229" + record[58:]
    if kind == "reduced_above_penalty":
        return record[:67] + b"%09d" % (fields[6] + 100) + record[76:]
    if kind == "deadline_without_reduction":
        return record[:67] + b"%09d" % fields[6] + b"20260101" + record[84:]
    if kind == "status":
        return record[:117] + b"X" + record[118:]
    if kind == "length":
        return record[:-1]
    if kind == "vrm":
        return record[:13] + fields[2].lower().ljust(7) + record[20:]
    if kind == "arrears_period":
        return record[:93] + b"20250101" + b"        " + record[109:]
    raise ValueError(kind)


def generate(
    out_dir: str | os.PathLike,
    count: int,
    *,
    sequence: int = 1,
    extract_date: date | None = None,
    bad_share: float = 0.0,
    seed: int = 0,
    first_index: int = 0,
) -> GeneratedExtract:
    """Write ECS_EXTRACT_<date>_<seq>.DAT with `count` detail records into `out_dir`."""
    if count < 0 or count > 999_999_999:
        raise ValueError("count must be between 0 and 999,999,999")
    if not 0.0 <= bad_share <= 1.0:
        raise ValueError("bad_share must be between 0 and 1")
    extract_date = extract_date or date.today()
    rnd = random.Random(seed)
    days = _Days(extract_date)
    path = Path(out_dir) / layout.file_name(extract_date, sequence)
    total = 0
    bad = 0
    fmt = _FORMAT
    crlf = layout.LINE_END
    with open(path, "wb") as out:
        out.write(layout.format_header(extract_date, sequence) + crlf)
        for start in range(first_index, first_index + count, BATCH):
            records = []
            for index in range(start, min(start + BATCH, first_index + count)):
                fields = _case(rnd, index, days)
                record = fmt % fields
                if bad_share and rnd.random() < bad_share:
                    record = _break(record, BAD_KINDS[bad % len(BAD_KINDS)], fields)
                    bad += 1
                total += fields[6]
                records.append(record)
            records.append(b"")
            out.write(crlf.join(records))
        out.write(layout.format_trailer(count, total) + crlf)
    return GeneratedExtract(path=path, count=count, bad=bad, total_penalty_pence=total)
