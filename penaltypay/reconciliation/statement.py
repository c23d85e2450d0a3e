"""Reading the bank account's statement: a CSV with the header `Date,Description,Amount`,
an ISO date, the description as the bank shows it, and pounds with two decimals (credits
positive, debits negative). Plain Python. The whole file is read before anything is kept:
the first bad line refuses the file, naming its line number."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date

HEADER = ["Date", "Description", "Amount"]
MAX_BYTES = 5 * 1024 * 1024
MAX_LINES = 100_000
MAX_DESCRIPTION = 200
_AMOUNT = re.compile(r"(-?)([0-9]{1,9})\.([0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class StatementRefused(ValueError):
    """The file is not a statement we can read; nothing of it is kept."""


@dataclass(frozen=True)
class StatementLine:
    number: int  # the line in the file (the header is line 1)
    day: date
    description: str
    amount_pence: int
    key: str  # the same line in any statement file has the same key


@dataclass(frozen=True)
class Statement:
    sha256: str
    lines: list[StatementLine]

    @property
    def first_day(self) -> date:
        return min(line.day for line in self.lines)

    @property
    def last_day(self) -> date:
        return max(line.day for line in self.lines)


def parse_statement(data: bytes) -> Statement:
    if len(data) > MAX_BYTES:
        raise StatementRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it by month")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementRefused("the file is not UTF-8 text: export the statement as CSV") from None
    if "\x00" in text:
        raise StatementRefused("the file is not a CSV statement (it holds binary data)")
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
    except csv.Error as exc:
        raise StatementRefused(f"line 1: {exc}") from None
    if header is None or [cell.strip() for cell in header] != HEADER:
        raise StatementRefused("line 1: the first line must be the header Date,Description,Amount")
    lines: list[StatementLine] = []
    seen: Counter[tuple[date, str, int]] = Counter()
    try:
        for row in rows:
            number = rows.line_num
            if not row or all(not cell.strip() for cell in row):
                continue  # a blank line (often the last) is not a statement line
            if len(lines) >= MAX_LINES:
                raise StatementRefused(f"line {number}: more than {MAX_LINES} lines: split the statement")
            day, description, amount = _line(number, row)
            seen[(day, description, amount)] += 1
            occurrence = seen[(day, description, amount)]
            key = hashlib.sha256(f"{day}|{description}|{amount}|{occurrence}".encode()).hexdigest()
            lines.append(StatementLine(number, day, description, amount, key))
    except csv.Error as exc:
        raise StatementRefused(f"line {rows.line_num}: {exc}") from None
    if not lines:
        raise StatementRefused("the statement has no lines after its header")
    return Statement(hashlib.sha256(data).hexdigest(), lines)


def _line(number: int, row: list[str]) -> tuple[date, str, int]:
    if len(row) != 3:
        raise StatementRefused(f"line {number}: expected 3 fields (Date,Description,Amount), found {len(row)}")
    day_text, description, amount_text = (cell.strip() for cell in row)
    if not _DATE.fullmatch(day_text):
        raise StatementRefused(f"line {number}: the date must be YYYY-MM-DD, not {day_text[:20]!r}")
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise StatementRefused(f"line {number}: {day_text} is not a real date") from None
    if not description:
        raise StatementRefused(f"line {number}: the description is empty")
    if len(description) > MAX_DESCRIPTION:
        raise StatementRefused(f"line {number}: the description is longer than {MAX_DESCRIPTION} characters")
    match = _AMOUNT.fullmatch(amount_text)
    if match is None:
        raise StatementRefused(
            f"line {number}: the amount must be pounds with two decimals, like 1234.56 or -12.00, "
            f"not {amount_text[:20]!r}"
        )
    sign, pounds, pence = match.groups()
    amount = int(pounds) * 100 + int(pence)
    return day, description, -amount if sign else amount
