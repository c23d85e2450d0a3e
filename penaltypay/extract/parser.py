"""Reading and checking a nightly extract: plain Python, no Django.

Two kinds of failure, as the ICD and docs/extract-import.md define them:

- `FileRejected`: the file as a whole is wrong (name, framing, header, trailer,
  count, total). Nothing in it may be applied.
- a detail record that breaks a field rule: `parse_detail` returns None and
  `explain_detail` says which field and why. Only that record is left out.

Speed: the file is read in 4 MiB chunks; the framing checks (ASCII, printable,
CRLF) run over a whole chunk at a time in C (`isascii`, `translate`, `count`,
`split`), and each detail record is checked by one compiled regular expression plus
set look-ups for its dates. About 3 µs a record, less than PostgreSQL spends
storing it: the importer keeps up with a bare COPY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from penaltypay.cases.domain import Case
from penaltypay.extract import layout

CHUNK_BYTES = 4 * 1024 * 1024
# A "line" longer than this without a line end is not a record of this file format.
MAX_LINE_BYTES = 1024 * 1024


class FileRejected(Exception):
    """The whole file is rejected; `reason` says why (stored, printed, exact)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Header:
    extract_date: date
    sequence: int


@dataclass(frozen=True)
class Trailer:
    count: int
    total_pence: int


def _all_valid_dates() -> frozenset[bytes]:
    days = [b"%02d" % day for day in range(1, 32)]
    dates: list[bytes] = []
    for year in range(layout.FIRST_YEAR, layout.LAST_YEAR + 1):
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        for month, length in enumerate((31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), 1):
            prefix = b"%04d%02d" % (year, month)
            dates.extend(prefix + day for day in days[:length])
    return frozenset(dates)


# Every acceptable YYYYMMDD (1900-2099, about 73,000): one set look-up checks a date.
VALID_DATES = _all_valid_dates()
SPACES8 = b" " * 8


def to_date(value: bytes) -> date:
    return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))


def _show(value: bytes) -> str:
    """A field's content for a reason text: quoted, printable ASCII as it is."""
    return "'" + value.decode("ascii", "backslashreplace") + "'"


# --- file name, header, trailer -------------------------------------------------


def parse_file_name(name: str) -> Header:
    match = layout.FILE_NAME.fullmatch(name)
    if match is None:
        raise FileRejected("file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT")
    raw_date = match["date"].encode("ascii")
    if raw_date not in VALID_DATES:
        raise FileRejected(f"file name date {match['date']} is not a valid date")
    return Header(extract_date=to_date(raw_date), sequence=int(match["sequence"]))


def parse_header(line: bytes) -> Header:
    if line[:1] != b"H":
        if not line:
            raise FileRejected("missing header: the first record is empty")
        raise FileRejected(f"missing header: the first record's type is {_show(line[:1])}, expected 'H'")
    if len(line) != layout.RECORD_LENGTH:
        raise FileRejected(f"header is malformed: record is {len(line)} characters, expected {layout.RECORD_LENGTH}")
    if line[1:9] not in VALID_DATES:
        raise FileRejected(f"header is malformed: extract date {_show(line[1:9])} is not a valid date")
    if not line[9:15].isdigit():
        raise FileRejected(f"header is malformed: sequence number {_show(line[9:15])} is not 6 digits")
    if line[15:23] != layout.SOURCE_SYSTEM:
        raise FileRejected(f"header is malformed: source system {_show(line[15:23])} is not 'ECS'")
    if line[23:].strip(b" "):
        raise FileRejected("header is malformed: columns 24-150 are not all spaces")
    return Header(extract_date=to_date(line[1:9]), sequence=int(line[9:15]))


def parse_trailer(line: bytes | None) -> Trailer:
    if line is None:
        raise FileRejected("missing trailer: the file ends after the header")
    if line[:1] != b"T":
        if not line:
            raise FileRejected("missing trailer: the last record is empty")
        raise FileRejected(f"missing trailer: the last record's type is {_show(line[:1])}, expected 'T'")
    if len(line) != layout.RECORD_LENGTH:
        raise FileRejected(f"trailer is malformed: record is {len(line)} characters, expected {layout.RECORD_LENGTH}")
    if not line[1:10].isdigit():
        raise FileRejected(f"trailer is malformed: record count {_show(line[1:10])} is not 9 digits")
    if not line[10:25].isdigit():
        raise FileRejected(f"trailer is malformed: penalty total {_show(line[10:25])} is not 15 digits")
    if line[25:].strip(b" "):
        raise FileRejected("trailer is malformed: columns 26-150 are not all spaces")
    return Trailer(count=int(line[1:10]), total_pence=int(line[10:25]))


def check_trailer(trailer: Trailer, detail_count: int, penalty_total: int) -> None:
    if trailer.count != detail_count:
        raise FileRejected(
            f"trailer count {trailer.count} disagrees with the {detail_count} detail records in the file"
        )
    if trailer.total_pence != penalty_total:
        raise FileRejected(
            f"trailer total {trailer.total_pence} disagrees with the sum of the detail records' "
            f"penalty amounts ({penalty_total})"
        )


def penalty_of(line: bytes) -> int:
    """A detail record's contribution to the trailer total: its penalty amount when
    columns 59-67 hold 9 digits (whatever else is wrong with it), else 0."""
    amount = line[58:67]
    return int(amount) if len(amount) == 9 and amount.isdigit() else 0


# --- detail records ---------------------------------------------------------------

_CASE_TYPE = rb"(?:[A-Z0-9]{4}|[A-Z0-9]{3} |[A-Z0-9]{2}  |[A-Z0-9]   )"
_VRM = b"(?:" + b"|".join(b"[A-Z0-9]{%d}" % n + b" " * (7 - n) for n in range(7, 0, -1)) + b")"
_DETAIL = re.compile(
    rb"D([0-9]{8})(" + _CASE_TYPE + rb")(" + _VRM + rb")([ -~]{20})([ -~]{10})"
    rb"([0-9]{8})([0-9]{9})([0-9]{9})([0-9]{8}| {8})([0-9]{9})([0-9]{8}| {8})([0-9]{8}| {8})"
    rb"([0-9]{8})([ORPDCN])([0-9]{9})[ -~]{23}"
)
match_detail = _DETAIL.fullmatch

# Parsed fields, all bytes (None for an absent date), in this order.
FIELDS = (
    "reference",
    "case_type",
    "vrm",
    "vehicle_make",
    "vehicle_colour",
    "issue_date",
    "penalty_pence",
    "reduced_penalty_pence",
    "reduction_deadline",
    "arrears_pence",
    "arrears_from",
    "arrears_to",
    "pay_by_date",
    "status",
    "amount_paid_pence",
)


# A detail record's fields as `parse_detail` gives them (see FIELDS): the matched bytes,
# with absent dates as None.
Fields = tuple[Any, ...]  # bytes, or None for an absent date


def parse_detail(line: bytes) -> Fields | None:
    """The record's fields (see FIELDS; text trimmed, absent dates None, status still
    its letter) when it obeys every field rule, else None (see `explain_detail`)."""
    match = match_detail(line)
    if match is None:
        return None
    (
        ref,
        case_type,
        vrm,
        make,
        colour,
        issue,
        penalty,
        reduced,
        deadline,
        arrears,
        a_from,
        a_to,
        pay_by,
        status,
        paid,
    ) = match.groups()
    if issue not in VALID_DATES or pay_by not in VALID_DATES or reduced > penalty:
        return None
    if deadline == SPACES8:
        deadline = None
    elif deadline not in VALID_DATES or reduced == penalty:
        return None
    if a_from == SPACES8:
        if a_to != SPACES8:
            return None
        a_from = a_to = None
    elif a_to == SPACES8 or a_from not in VALID_DATES or a_to not in VALID_DATES or a_from > a_to:
        return None
    return (
        ref,
        case_type.rstrip(),
        vrm.rstrip(),
        make.strip(),
        colour.strip(),
        issue,
        penalty,
        reduced,
        deadline,
        arrears,
        a_from,
        a_to,
        pay_by,
        status,
        paid,
    )


# --- detail records as PostgreSQL COPY text rows ---------------------------------------

_ALNUM = re.compile(rb"[A-Z0-9]+")


def _left_aligned(value: bytes, width: int) -> bool:
    text = value.rstrip(b" ")
    return len(value) == width and bool(_ALNUM.fullmatch(text))


def _digits(value: bytes, n: int) -> bool:
    return len(value) == n and value.isdigit()


def explain_detail(line: bytes) -> tuple[str, str] | None:
    """(field, reason) for the first rule the record breaks, in column order then the
    rules between fields; None when it breaks none. The specification of the rules:
    `parse_detail` is its fast equivalent (tests hold them to the same verdicts)."""
    if len(line) != layout.RECORD_LENGTH:
        return "record", f"record is {len(line)} characters, expected {layout.RECORD_LENGTH}"
    if line[0:1] != b"D":
        return "record_type", f"record type is {_show(line[0:1])}, expected 'D'"
    if not _digits(line[layout.REFERENCE], 8):
        return "reference", "case reference is not 8 digits"
    if not _left_aligned(line[layout.CASE_TYPE], 4):
        return "case_type", "case type is not 1-4 upper-case letters or digits, left-aligned"
    if not _left_aligned(line[layout.VRM], 7):
        return "vrm", "registration mark is not 1-7 upper-case letters or digits, left-aligned"
    checks = (
        ("issue_date", layout.ISSUE_DATE, "date", "issue date"),
        ("penalty_pence", layout.PENALTY, "amount", "penalty amount"),
        ("reduced_penalty_pence", layout.REDUCED_PENALTY, "amount", "reduced penalty amount"),
        ("reduction_deadline", layout.REDUCTION_DEADLINE, "optional date", "reduction deadline"),
        ("arrears_pence", layout.ARREARS, "amount", "arrears amount"),
        ("arrears_from", layout.ARREARS_FROM, "optional date", "arrears from date"),
        ("arrears_to", layout.ARREARS_TO, "optional date", "arrears to date"),
        ("pay_by_date", layout.PAY_BY_DATE, "date", "pay-by date"),
    )
    for field, columns, kind, label in checks:
        value = line[columns]
        if kind == "amount" and not _digits(value, 9):
            return field, f"{label} is not 9 digits"
        if kind == "date" and value not in VALID_DATES:
            return field, f"{label} {_show(value)} is not a valid date (YYYYMMDD)"
        if kind == "optional date" and value != SPACES8 and value not in VALID_DATES:
            return field, f"{label} {_show(value)} is not a valid date (YYYYMMDD) or spaces"
    status = line[layout.STATUS]
    if status.decode("ascii") not in layout.STATUS_BY_CODE:
        return "status", f"unknown status code {_show(status)}"
    if not _digits(line[layout.AMOUNT_PAID], 9):
        return "amount_paid_pence", "amount paid is not 9 digits"
    penalty, reduced = int(line[layout.PENALTY]), int(line[layout.REDUCED_PENALTY])
    if reduced > penalty:
        return "reduced_penalty_pence", "reduced penalty amount is above the penalty amount"
    if line[layout.REDUCTION_DEADLINE] != SPACES8 and reduced == penalty:
        return "reduction_deadline", "reduction deadline without a reduction (reduced amount equals the penalty)"
    a_from, a_to = line[layout.ARREARS_FROM], line[layout.ARREARS_TO]
    if (a_from == SPACES8) != (a_to == SPACES8):
        return ("arrears_to" if a_to == SPACES8 else "arrears_from"), "arrears period has one date without the other"
    if a_from != SPACES8 and a_from > a_to:
        return "arrears_to", "arrears period ends before it starts"
    return None


def fields_to_case(fields: Fields) -> Case:
    """Parsed fields as a domain Case (the generic loader and the tests use it)."""
    (
        ref,
        case_type,
        vrm,
        make,
        colour,
        issue,
        penalty,
        reduced,
        deadline,
        arrears,
        a_from,
        a_to,
        pay_by,
        status,
        paid,
    ) = fields
    return Case(
        reference=ref.decode("ascii"),
        case_type=case_type.decode("ascii"),
        vrm=vrm.decode("ascii"),
        vehicle_make=make.decode("ascii"),
        vehicle_colour=colour.decode("ascii"),
        issue_date=to_date(issue),
        penalty_pence=int(penalty),
        reduced_penalty_pence=int(reduced),
        reduction_deadline=to_date(deadline) if deadline is not None else None,
        arrears_pence=int(arrears),
        arrears_from=to_date(a_from) if a_from is not None else None,
        arrears_to=to_date(a_to) if a_to is not None else None,
        pay_by_date=to_date(pay_by),
        status=layout.STATUS_BY_CODE[status.decode("ascii")],
        amount_paid_pence=int(paid),
    )


def reference_of(line: bytes) -> str:
    """Columns 2-9 as given (for reporting a rejected record), trimmed."""
    return line[1:9].decode("ascii", "replace").strip()
