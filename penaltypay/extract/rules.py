"""What both ways of applying a file share: when an extract counts as cut, which cases
it must not overwrite (the no-reopen rule, owned by payments), and the trailer check."""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as dtime

from penaltypay.extract import parser
from penaltypay.extract.reader import ExtractReader
from penaltypay.kernel.clock import LONDON
from penaltypay.payments.queries import cases_paid_since

CONFLICT_REASON = "money taken for this case since the extract was cut: our newer record is kept"
# case_record columns in the order of the COPY rows `copy_rows.copy_batch` writes: its
# FIELDS, then the three constant ones its `tail` holds.
CASE_COLUMNS = (*parser.FIELDS, "ecs_last_updated", "source", "refreshed_at")


def cut_at(extract_date: date) -> datetime:
    """When the extract is taken to have been cut: the start (00:00 Europe/London) of
    its extract date. Earlier than ECS's real cut whatever it is on that date, so a
    payment near the cut counts as newer than the extract (docs/extract-import.md)."""
    return datetime.combine(extract_date, dtime(0, 0), tzinfo=LONDON)


def conflict_references(cut: datetime) -> set[str]:
    """Cases an extract cut at `cut` must not overwrite (the no-reopen rule, owned by payments)."""
    return set(cases_paid_since(cut))


def finish_details(reader: ExtractReader, penalty_total: int) -> None:
    trailer = parser.parse_trailer(reader.trailer)
    parser.check_trailer(trailer, reader.detail_count, penalty_total)
