"""Applying an extract on PostgreSQL: COPY (from a writer thread) into the store or a
staging table, then one set-based merge. See the importer's docstring for the two methods."""

from __future__ import annotations

import queue
import tempfile
import threading
from datetime import datetime

from django.db import connection
from django.utils import timezone
from psycopg.copy import LibpqWriter

from penaltypay.cases import store
from penaltypay.extract import copy_rows, parser
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.extract.reader import ExtractReader
from penaltypay.extract.rules import (
    CASE_COLUMNS,
    CONFLICT_REASON,
    conflict_references,
    finish_details,
)
from penaltypay.payments.queries import cases_paid_since


class StoreChangedMeanwhile(Exception):
    """Bulk COPY met a case that reached the store after we listed the store's cases."""


class _ThreadedCopyWriter:
    """Wraps psycopg's LibpqWriter: the COPY data goes to the server from a thread, so
    the next batch is parsed while PostgreSQL stores this one. The queue is bounded
    (memory stays a few batches whatever the file size)."""

    def __new__(cls, cursor, max_batches: int = 6):
        class Writer(LibpqWriter):
            def __init__(self, cursor):
                super().__init__(cursor)
                self._batches: queue.Queue = queue.Queue(maxsize=max_batches)
                self._thread: threading.Thread | None = None
                self._error: BaseException | None = None

            def _send(self):
                while True:
                    data = self._batches.get()
                    if not data:
                        return
                    if self._error is None:
                        try:
                            LibpqWriter.write(self, data)
                        except BaseException as error:  # keep draining so the producer never blocks
                            self._error = error

            def write(self, data):
                if self._error is not None:
                    raise self._error
                if self._thread is None:
                    self._thread = threading.Thread(target=self._send, name="extract-copy", daemon=True)
                    self._thread.start()
                self._batches.put(data)

            def finish(self, exc=None):
                if self._thread is not None:
                    self._batches.put(b"")
                    self._thread.join()
                    self._thread = None
                if self._error is not None and exc is None:
                    exc = self._error
                    LibpqWriter.finish(self, exc)
                    raise self._error
                LibpqWriter.finish(self, exc)

        return Writer(cursor)


def _copy_text(value: str) -> bytes:
    return copy_rows.copy_escape(value.encode("ascii", "backslashreplace"))


class _Bitmap:
    """One bit per possible 8-digit reference: 12.5 MB, whatever the store's size."""

    def __init__(self):
        self.bits = bytearray(100_000_000 // 8)

    def add(self, reference: str | bytes) -> None:
        number = int(reference)
        self.bits[number >> 3] |= 1 << (number & 7)


class PostgresLoad:
    STAGE = "extract_stage"
    SPOOL_IN_MEMORY = 16 * 1024 * 1024

    def __init__(self, run: ExtractImport, cut: datetime, *, bulk: bool):
        self.run = run
        self.cut = cut
        self.bulk = bulk

    def load(self, reader: ExtractReader) -> tuple[int, int, int, int]:
        case_table, columns = store.case_table(CASE_COLUMNS)
        column_list = ", ".join(columns)
        issue_table = ExtractRecordIssue._meta.db_table
        now = timezone.now().isoformat().encode("ascii")
        tail = b"\\N\t" + store.EXTRACT_SOURCE.encode("ascii") + b"\t" + now + b"\n"  # the last three columns
        run_prefix = b"%d\t" % self.run.pk

        with connection.cursor() as django_cursor:
            cursor = django_cursor.cursor  # psycopg's own cursor: COPY with our writer
            cursor.execute("SET LOCAL work_mem = '256MB'")
            # The owner's staging table (migration extract/0002; the app role makes no tables,
            # temporary ones included), emptied first: one import runs at a time (its lock).
            # TRUNCATE (the one table the app role may truncate): no dead rows left behind.
            cursor.execute(f"TRUNCATE {self.STAGE}")
            known: bytearray | None = None
            seen: bytearray | None = None
            if self.bulk:
                known_bitmap, seen_bitmap = _Bitmap(), _Bitmap()
                with django_cursor.connection.cursor(name="extract_known_references") as references:
                    references.itersize = 50_000
                    references.execute(f"SELECT reference FROM {case_table}")
                    for (reference,) in references:
                        if len(reference) == 8 and reference.isdigit():
                            known_bitmap.add(reference)
                for reference in conflict_references(self.cut):
                    if len(reference) == 8 and reference.isdigit():
                        known_bitmap.add(reference)
                known, seen = known_bitmap.bits, seen_bitmap.bits
            target = f"{case_table} ({column_list})" if self.bulk else f"{self.STAGE} (line_no, {column_list})"

            stage_spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_IN_MEMORY)
            issue_spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_IN_MEMORY)
            staged = rejected = direct = 0
            total = 0
            with stage_spool, issue_spool:
                with cursor.copy(f"COPY {target} FROM STDIN", writer=_ThreadedCopyWriter(cursor)) as copy:
                    for first, lines in reader.batches():
                        rows, stage_rows, bad, penalties = copy_rows.copy_batch(lines, first, tail, known, seen)
                        total += penalties
                        if rows:
                            copy.write(b"".join(rows))
                        if known is None:
                            staged += len(rows)
                        else:
                            direct += len(rows)
                            staged += len(stage_rows)
                            if stage_rows:
                                stage_spool.write(b"".join(stage_rows))
                        for line_no, line in bad:
                            field_name, reason = parser.explain_detail(line) or ("record", "breaks a field rule")
                            issue_spool.write(
                                run_prefix
                                + b"rejected\t%d\t" % line_no
                                + _copy_text(parser.reference_of(line))
                                + b"\t"
                                + field_name.encode("ascii")
                                + b"\t"
                                + _copy_text(reason)
                                + b"\n"
                            )
                        rejected += len(bad)
                finish_details(reader, total)
                if stage_spool.tell():
                    stage_spool.seek(0)
                    with cursor.copy(f"COPY {self.STAGE} (line_no, {column_list}) FROM STDIN") as copy:
                        while block := stage_spool.read(1024 * 1024):
                            copy.write(block)
                if issue_spool.tell():
                    issue_spool.seek(0)
                    with cursor.copy(
                        f"COPY {issue_table} (run_id, kind, line, reference, field, reason) FROM STDIN"
                    ) as copy:
                        while block := issue_spool.read(1024 * 1024):
                            copy.write(block)

            conflicts = 0
            if staged:
                # The same rule as the ORM path: payments' own query, run as SQL here.
                paid_sql, paid_params = cases_paid_since(self.cut).query.sql_with_params()
                conflicting = f"SELECT paid.case_reference FROM ({paid_sql}) AS paid"
                cursor.execute(
                    f"INSERT INTO {issue_table} (run_id, kind, line, reference, field, reason) "
                    f"SELECT %s, %s, s.line_no, s.reference, 'reference', %s "
                    f"FROM {self.STAGE} s WHERE s.reference IN ({conflicting})",
                    [self.run.pk, ExtractRecordIssue.CONFLICT, CONFLICT_REASON, *paid_params],
                )
                conflicts = cursor.rowcount
                updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "reference")
                cursor.execute(
                    f"INSERT INTO {case_table} ({column_list}) "
                    f"SELECT DISTINCT ON (s.reference) {', '.join('s.' + c for c in columns)} FROM {self.STAGE} s "
                    f"WHERE s.reference NOT IN ({conflicting}) "
                    f"ORDER BY s.reference, s.line_no DESC "
                    f"ON CONFLICT (reference) DO UPDATE SET {updates}",
                    list(paid_params),
                )
            cursor.execute(f"TRUNCATE {self.STAGE}")
        applied = direct + staged - conflicts
        return reader.detail_count, applied, rejected, conflicts
