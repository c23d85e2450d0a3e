"""A whole (small) extract in memory, written with the product's own record layout."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from penaltypay.cases.domain import Case
from penaltypay.extract.layout import LINE_END, format_detail, format_header, format_trailer


def format_file(extract_date: date, sequence: int, cases: Iterable[Case]) -> bytes:
    """Header, one detail a case, trailer."""
    cases = list(cases)
    details = [format_detail(case) for case in cases]
    total = sum(case.penalty_pence for case in cases)
    records = [format_header(extract_date, sequence), *details, format_trailer(len(details), total)]
    return b"".join(record + LINE_END for record in records)
