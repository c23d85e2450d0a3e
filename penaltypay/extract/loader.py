"""Loading nightly extracts into the local case store (ICD section 2, docs/adr/0008).

One file, one transaction: the store holds either all of a file's accepted
records or none of them, whatever happens to the process or the database half
way. The run is recorded as `running` first (its own transaction) and finished in
the transaction that applies the file.

PostgreSQL, two methods, both one transaction:

- **bulk-copy** (files of `EXTRACT_BULK_MIN_RECORDS` or more, e.g. a first full
  load): records for cases the store does not hold yet are streamed by COPY
  straight into `case_record` (COPY's multi-row insert is several times faster
  than INSERT ... SELECT); records for cases it already holds, repeats within the
  file and cases with recent payments are spooled to a temporary staging table
  and applied by the set-based merge below.
- **staged-merge** (nightly files): every accepted record is COPYed into a
  temporary staging table, then one set-based merge: INSERT ... SELECT DISTINCT ON
  (reference) ... ON CONFLICT DO UPDATE, skipping cases with money taken since the
  extract was cut.

Parsing runs in this process while a writer thread feeds COPY, so PostgreSQL
stores one batch while the next is parsed.

Any other database (SQLite locally): the same parser, then the ORM's bulk upsert,
in one transaction. Correct, slower.
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import socket
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Callable, Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from penaltypay.cases.models import CaseRecord
from penaltypay.extract import layout, parser
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.extract.parser import FileRejected
from penaltypay.kernel.clock import LONDON
from penaltypay.payments.queries import cases_paid_since

log = logging.getLogger(__name__)

BULK_COPY = "bulk-copy"
STAGED_MERGE = "staged-merge"
ORM = "orm"

CONFLICT_REASON = "money taken for this case since the extract was cut: our newer record is kept"
# Session advisory lock key: one import at a time per database ('PPEXTRCT').
ADVISORY_LOCK_KEY = 0x5050455854524354
PAUSE_ENV = "PENALTYPAY_EXTRACT_TEST_PAUSE"  # tests only: seconds to wait before COMMIT

# case_record columns in the order of the COPY rows `parser.copy_batch` writes: its
# FIELDS, then the three constant ones its `tail` holds.
_CASE_COLUMNS = (*parser.FIELDS, "ecs_last_updated", "source", "refreshed_at")


class ImportBusy(Exception):
    """Another import holds the lock; try again when it has finished."""


class _StoreChangedMeanwhile(Exception):
    """Bulk COPY met a case that reached the store after we listed the store's cases."""


@dataclass
class ImportResult:
    file: str
    sequence: int | None
    outcome: str
    read: int = 0
    applied: int = 0
    rejected: int = 0
    conflicts: int = 0
    seconds: float = 0.0
    reason: str = ""
    run_id: int | None = None
    method: str = ""
    # True when the file was rejected only because an earlier sequence is missing:
    # the drop folder leaves it in place to load once the gap is filled.
    waiting: bool = field(default=False, repr=False)

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("waiting")
        if not self.reason:
            data.pop("reason")
        data["seconds"] = round(self.seconds, 3)
        return data


def _setting(name: str, default):
    return getattr(settings, name, default)


def cut_at(extract_date: date) -> datetime:
    """When the extract is taken to have been cut: the start (00:00 Europe/London) of
    its extract date. Earlier than ECS's real cut whatever it is on that date, so a
    payment near the cut counts as newer than the extract (docs/adr/0008)."""
    return datetime.combine(extract_date, dtime(0, 0), tzinfo=LONDON)


def conflict_references(cut: datetime) -> set[str]:
    """Cases an extract cut at `cut` must not overwrite (the no-reopen rule, owned by payments)."""
    return set(cases_paid_since(cut))


def expected_sequence(first_sequence: int | None = None) -> int:
    last = ExtractImport.objects.filter(outcome=ExtractImport.APPLIED).aggregate(last=Max("sequence"))["last"]
    if last is not None:
        if first_sequence is not None and first_sequence != last + 1:
            raise ValueError(
                f"sequence {last:06d} has been loaded already, so the next expected is {last + 1:06d}; "
                "--first-sequence only applies before the first load"
            )
        return last + 1
    if first_sequence is not None:
        return first_sequence
    return int(_setting("EXTRACT_FIRST_SEQUENCE", 1))


# --- one import at a time -----------------------------------------------------------

_lock_state = threading.local()


@contextlib.contextmanager
def import_lock():
    """Held for a whole run of files. PostgreSQL: a session advisory lock (released by
    the server if the process dies). SQLite (one local importer assumed): its write
    lock serialises the applying transactions, and the unique 'applied' sequence stops
    a double load."""
    depth = getattr(_lock_state, "depth", 0)
    if depth or connection.vendor != "postgresql":
        _lock_state.depth = depth + 1
        try:
            if depth == 0:
                _mark_interrupted_runs()
            yield
        finally:
            _lock_state.depth = depth
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        if not cursor.fetchone()[0]:
            raise ImportBusy("another extract import is running")
    _lock_state.depth = 1
    try:
        _mark_interrupted_runs()
        yield
    finally:
        _lock_state.depth = 0
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        except Exception:  # the connection is gone: so is the lock
            log.warning("could not release the extract import lock; the server drops it with the connection")


def _mark_interrupted_runs() -> None:
    """Runs still `running` while we hold the lock belong to a process that died."""
    ExtractImport.objects.filter(outcome=ExtractImport.RUNNING).update(
        outcome=ExtractImport.INTERRUPTED,
        reason="the import stopped before finishing (killed, or the database went away); nothing of it was applied",
        finished_at=timezone.now(),
    )


# --- importing files ----------------------------------------------------------------

def _sort_key(path: Path):
    match = layout.FILE_NAME.fullmatch(path.name)
    return (0, int(match["sequence"]), path.name) if match else (-1, 0, path.name)


def import_files(
    paths: Iterable[str | os.PathLike],
    *,
    first_sequence: int | None = None,
    on_result: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """Import files in sequence order (files whose name does not parse first: they are
    rejected whatever their order)."""
    ordered = sorted((Path(p) for p in paths), key=_sort_key)
    results = []
    with import_lock():
        for path in ordered:
            result = import_file(path, first_sequence=_until_first_applied(first_sequence))
            results.append(result)
            if on_result:
                on_result(result)
    return results


def _until_first_applied(first_sequence: int | None) -> int | None:
    """--first-sequence matters only until a file has been applied."""
    if first_sequence is None or ExtractImport.objects.filter(outcome=ExtractImport.APPLIED).exists():
        return None
    return first_sequence


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _record(name: str, started: float, outcome: str, **values) -> ImportResult:
    seconds = time.monotonic() - started
    run = ExtractImport.objects.create(
        file_name=name[:255], outcome=outcome, started_at=timezone.now() - timedelta(seconds=seconds),
        finished_at=timezone.now(), seconds=seconds, host=_host(), **values,
    )
    result = ImportResult(
        file=name, sequence=values.get("sequence"), outcome=outcome, seconds=seconds,
        reason=values.get("reason", ""), run_id=run.pk,
    )
    _log(result)
    return result


def _log(result: ImportResult) -> None:
    level = logging.WARNING if result.outcome in (ExtractImport.REJECTED, ExtractImport.FAILED) else logging.INFO
    log.log(level, "extract import finished", extra={
        "extract_file": result.file, "sequence": result.sequence, "outcome": result.outcome, "read": result.read,
        "applied": result.applied, "rejected": result.rejected, "conflicts": result.conflicts,
        "seconds": round(result.seconds, 3), "reason": result.reason, "run_id": result.run_id,
    })


def import_file(path: str | os.PathLike, *, first_sequence: int | None = None) -> ImportResult:
    """Import one file. Never raises for anything wrong with the file (the result says
    `rejected` and why); raises ImportBusy, or database errors after recording `failed`."""
    path = Path(path)
    with import_lock():
        return _import_file(path, first_sequence)


def _import_file(path: Path, first_sequence: int | None) -> ImportResult:
    started = time.monotonic()
    name = path.name
    try:
        named = parser.parse_file_name(name)
    except FileRejected as rejected:
        return _record(name, started, ExtractImport.REJECTED, reason=rejected.reason)
    try:
        size = path.stat().st_size
        stream = open(path, "rb")
    except OSError as error:
        return _record(name, started, ExtractImport.REJECTED, sequence=named.sequence,
                       extract_date=named.extract_date, reason=f"cannot read the file: {error.strerror}")
    with stream:
        reader = parser.ExtractReader(stream, chunk_bytes=parser.CHUNK_BYTES)
        try:
            header = parser.parse_header(reader.header())
            if header.sequence != named.sequence:
                raise FileRejected(
                    f"header sequence {header.sequence:06d} does not match the file name's {named.sequence:06d}"
                )
            if header.extract_date != named.extract_date:
                raise FileRejected(
                    f"header date {header.extract_date:%Y%m%d} does not match the file name's "
                    f"{named.extract_date:%Y%m%d}"
                )
        except FileRejected as rejected:
            return _record(name, started, ExtractImport.REJECTED, sequence=named.sequence,
                           extract_date=named.extract_date, size_bytes=size, reason=rejected.reason)
        expected = expected_sequence(first_sequence)
        facts = {"sequence": header.sequence, "extract_date": header.extract_date, "size_bytes": size}
        if header.sequence < expected:
            sha256 = reader.hash_rest()
            earlier = ExtractImport.objects.filter(outcome=ExtractImport.APPLIED, sequence=header.sequence).first()
            if earlier is not None and earlier.sha256 == sha256:
                return _record(
                    name, started, ExtractImport.ALREADY_LOADED, sha256=sha256,
                    reason=f"this file was applied by run {earlier.pk}; nothing changed", **facts,
                )
            if earlier is not None:
                reason = f"sequence {header.sequence:06d} was already loaded from a different file"
            else:
                reason = f"sequence {header.sequence:06d} is not the next expected ({expected:06d})"
            return _record(name, started, ExtractImport.REJECTED, sha256=sha256, reason=reason, **facts)
        if header.sequence > expected:
            result = _record(
                name, started, ExtractImport.REJECTED,
                reason=f"sequence {header.sequence:06d} is not the next expected ({expected:06d})", **facts,
            )
            result.waiting = True
            return result

    run = ExtractImport.objects.create(
        file_name=name[:255], outcome=ExtractImport.RUNNING, started_at=timezone.now(), host=_host(), **facts
    )
    result = ImportResult(file=name, sequence=header.sequence, outcome=ExtractImport.RUNNING, run_id=run.pk)
    try:
        _apply(path, header, run, result, started)
    except FileRejected as rejected:
        result.outcome, result.reason = ExtractImport.REJECTED, rejected.reason
        result.read = result.applied = result.rejected = result.conflicts = 0
        result.seconds = time.monotonic() - started
        ExtractImport.objects.filter(pk=run.pk).update(
            outcome=ExtractImport.REJECTED, reason=rejected.reason[:500], finished_at=timezone.now(),
            seconds=result.seconds, method=result.method,
        )
    except BaseException as error:
        result.outcome, result.reason = ExtractImport.FAILED, f"{type(error).__name__}: {error}"[:500]
        result.seconds = time.monotonic() - started
        _log(result)
        with contextlib.suppress(Exception):
            if connection.needs_rollback or not connection.is_usable():
                connection.close()
            ExtractImport.objects.filter(pk=run.pk).update(
                outcome=ExtractImport.FAILED, reason=result.reason, finished_at=timezone.now(), seconds=result.seconds
            )
        raise
    _log(result)
    return result


def _apply(path: Path, header: parser.Header, run: ExtractImport, result: ImportResult, started: float) -> None:
    if connection.vendor == "postgresql":
        estimated = path.stat().st_size // layout.LINE_LENGTH - 2
        method = BULK_COPY if estimated >= int(_setting("EXTRACT_BULK_MIN_RECORDS", 200_000)) else STAGED_MERGE
        try:
            _apply_once(path, header, run, result, started, method)
        except _StoreChangedMeanwhile:
            # A case arrived in the store (a keeper's look-up) while COPY was writing it:
            # start again with every record going through the merge.
            log.warning("extract bulk copy met a case stored meanwhile; loading through the merge instead",
                        extra={"extract_file": path.name})
            _apply_once(path, header, run, result, started, STAGED_MERGE)
    else:
        _apply_once(path, header, run, result, started, ORM)


def _apply_once(path, header, run, result, started, method) -> None:
    result.method = method
    with open(path, "rb") as stream, transaction.atomic():
        reader = parser.ExtractReader(stream, chunk_bytes=parser.CHUNK_BYTES)
        if parser.parse_header(reader.header()) != header:
            raise FileRejected("the file changed while it was being read")
        cut = cut_at(header.extract_date)
        if method == ORM:
            counts = _OrmLoad(run, cut).load(reader)
        else:
            import psycopg

            try:
                counts = _PostgresLoad(run, cut, bulk=(method == BULK_COPY)).load(reader)
            except psycopg.errors.UniqueViolation as error:
                if method != BULK_COPY:
                    raise
                raise _StoreChangedMeanwhile(str(error)) from error
        result.read, result.applied, result.rejected, result.conflicts = counts
        result.outcome = ExtractImport.APPLIED
        result.seconds = time.monotonic() - started
        ExtractImport.objects.filter(pk=run.pk).update(
            outcome=ExtractImport.APPLIED, sha256=reader.sha256, size_bytes=reader.size,
            records_read=result.read, records_applied=result.applied, records_rejected=result.rejected,
            records_conflicts=result.conflicts, method=method, finished_at=timezone.now(), seconds=result.seconds,
        )
        _pause_before_commit()


def _pause_before_commit() -> None:
    """Tests only (never in production): hold the finished transaction open so a test
    can kill the process or its database session before COMMIT. The session is
    touched while waiting, so a terminated one is noticed at once."""
    pause = os.environ.get(PAUSE_ENV)
    if not pause or _setting("PRODUCTION", False):
        return
    sys.stderr.write(f"extract import: paused before commit for {pause} s ({PAUSE_ENV})\n")
    sys.stderr.flush()
    deadline = time.monotonic() + float(pause)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def _finish_details(reader: parser.ExtractReader, penalty_total: int) -> None:
    trailer = parser.parse_trailer(reader.trailer)
    parser.check_trailer(trailer, reader.detail_count, penalty_total)


# --- the ORM path (SQLite, any database) ---------------------------------------------

class _OrmLoad:
    BATCH = 2000

    def __init__(self, run: ExtractImport, cut: datetime):
        self.run = run
        self.conflicts = conflict_references(cut)

    def load(self, reader: parser.ExtractReader) -> tuple[int, int, int, int]:
        applied = rejected = conflicts = 0
        total = 0
        update_fields = [name for name in _CASE_COLUMNS if name != "reference"]
        issues: list[ExtractRecordIssue] = []
        for first, lines in reader.batches():
            records = []
            for line_no, line in enumerate(lines, first):
                fields = parser.parse_detail(line)
                if fields is None:
                    total += parser.penalty_of(line)
                    field_name, reason = parser.explain_detail(line) or ("record", "record breaks a field rule")
                    issues.append(ExtractRecordIssue(
                        run=self.run, kind=ExtractRecordIssue.REJECTED, line=line_no,
                        reference=parser.reference_of(line), field=field_name, reason=reason,
                    ))
                    rejected += 1
                    continue
                total += int(fields[6])
                case = parser.fields_to_case(fields)
                if case.reference in self.conflicts:
                    issues.append(ExtractRecordIssue(
                        run=self.run, kind=ExtractRecordIssue.CONFLICT, line=line_no, reference=case.reference,
                        field="reference", reason=CONFLICT_REASON,
                    ))
                    conflicts += 1
                    continue
                records.append(CaseRecord(
                    reference=case.reference, source=CaseRecord.SOURCE_EXTRACT, **CaseRecord.fields_from_case(case)
                ))
                if len(records) >= self.BATCH:
                    applied += self._upsert(records, update_fields)
            applied += self._upsert(records, update_fields)
            if len(issues) >= self.BATCH:
                ExtractRecordIssue.objects.bulk_create(issues)
                issues = []
        ExtractRecordIssue.objects.bulk_create(issues)
        _finish_details(reader, total)
        return reader.detail_count, applied, rejected, conflicts

    @staticmethod
    def _upsert(records: list, update_fields: list[str]) -> int:
        if not records:
            return 0
        CaseRecord.objects.bulk_create(
            records, update_conflicts=True, unique_fields=["reference"], update_fields=update_fields
        )
        count = len(records)
        records.clear()
        return count


# --- PostgreSQL: COPY and one set-based merge ------------------------------------------

class _ThreadedCopyWriter:
    """Wraps psycopg's LibpqWriter: the COPY data goes to the server from a thread, so
    the next batch is parsed while PostgreSQL stores this one. The queue is bounded
    (memory stays a few batches whatever the file size)."""

    def __new__(cls, cursor, max_batches: int = 6):
        from psycopg.copy import LibpqWriter

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
    return parser.copy_escape(value.encode("ascii", "backslashreplace"))


class _Bitmap:
    """One bit per possible 8-digit reference: 12.5 MB, whatever the store's size."""

    def __init__(self):
        self.bits = bytearray(100_000_000 // 8)

    def add(self, reference: str | bytes) -> None:
        number = int(reference)
        self.bits[number >> 3] |= 1 << (number & 7)


class _PostgresLoad:
    STAGE = "extract_stage"
    CONFLICT = "extract_conflict"
    SPOOL_IN_MEMORY = 16 * 1024 * 1024

    def __init__(self, run: ExtractImport, cut: datetime, *, bulk: bool):
        self.run = run
        self.cut = cut
        self.bulk = bulk

    def load(self, reader: parser.ExtractReader) -> tuple[int, int, int, int]:
        case_table = CaseRecord._meta.db_table
        columns = [CaseRecord._meta.get_field(name).column for name in _CASE_COLUMNS]
        column_list = ", ".join(columns)
        issue_table = ExtractRecordIssue._meta.db_table
        now = timezone.now().isoformat().encode("ascii")
        tail = b"\\N\t" + CaseRecord.SOURCE_EXTRACT.encode("ascii") + b"\t" + now + b"\n"  # the last three columns
        run_prefix = b"%d\t" % self.run.pk

        with connection.cursor() as django_cursor:
            cursor = django_cursor.cursor  # psycopg's own cursor: COPY with our writer
            cursor.execute("SET LOCAL work_mem = '256MB'")
            for table in (self.STAGE, self.CONFLICT):
                cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
            cursor.execute(
                f"CREATE TEMP TABLE {self.STAGE} ON COMMIT DROP AS "
                f"SELECT 0::bigint AS line_no, {column_list} FROM {case_table} WITH NO DATA"
            )
            known = seen = None
            if self.bulk:
                known, seen = _Bitmap(), _Bitmap()
                with django_cursor.connection.cursor(name="extract_known_references") as references:
                    references.itersize = 50_000
                    references.execute(f"SELECT reference FROM {case_table}")
                    for (reference,) in references:
                        if len(reference) == 8 and reference.isdigit():
                            known.add(reference)
                for reference in conflict_references(self.cut):
                    if len(reference) == 8 and reference.isdigit():
                        known.add(reference)
                known, seen = known.bits, seen.bits
            target = f"{case_table} ({column_list})" if self.bulk else f"{self.STAGE} (line_no, {column_list})"

            stage_spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_IN_MEMORY)
            issue_spool = tempfile.SpooledTemporaryFile(max_size=self.SPOOL_IN_MEMORY)
            staged = rejected = direct = 0
            total = 0
            with stage_spool, issue_spool:
                with cursor.copy(f"COPY {target} FROM STDIN", writer=_ThreadedCopyWriter(cursor)) as copy:
                    for first, lines in reader.batches():
                        rows, stage_rows, bad, penalties = parser.copy_batch(lines, first, tail, known, seen)
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
                                run_prefix + b"rejected\t%d\t" % line_no + _copy_text(parser.reference_of(line))
                                + b"\t" + field_name.encode("ascii") + b"\t" + _copy_text(reason) + b"\n"
                            )
                        rejected += len(bad)
                _finish_details(reader, total)
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
                cursor.execute(
                    f"CREATE TEMP TABLE {self.CONFLICT} ON COMMIT DROP AS "
                    f"SELECT DISTINCT paid.case_reference AS reference FROM ({paid_sql}) AS paid",
                    paid_params,
                )
                cursor.execute(
                    f"INSERT INTO {issue_table} (run_id, kind, line, reference, field, reason) "
                    f"SELECT %(run)s, %(kind)s, s.line_no, s.reference, 'reference', %(reason)s "
                    f"FROM {self.STAGE} s WHERE s.reference IN (SELECT reference FROM {self.CONFLICT})",
                    {"run": self.run.pk, "kind": ExtractRecordIssue.CONFLICT, "reason": CONFLICT_REASON},
                )
                conflicts = cursor.rowcount
                updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "reference")
                cursor.execute(
                    f"INSERT INTO {case_table} ({column_list}) "
                    f"SELECT DISTINCT ON (s.reference) {', '.join('s.' + c for c in columns)} FROM {self.STAGE} s "
                    f"WHERE s.reference NOT IN (SELECT reference FROM {self.CONFLICT}) "
                    f"ORDER BY s.reference, s.line_no DESC "
                    f"ON CONFLICT (reference) DO UPDATE SET {updates}"
                )
            for table in (self.STAGE, self.CONFLICT):
                cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        applied = direct + staged - conflicts
        return reader.detail_count, applied, rejected, conflicts


# --- the drop folder ------------------------------------------------------------------

_PARTIAL_SUFFIXES = (".part", ".tmp", ".filepart", ".partial")


def _move(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.name}.{n}"
        n += 1
    shutil.move(str(path), str(target))
    return target


def import_drop_folder(
    folder: str | os.PathLike | None = None,
    *,
    settle_seconds: float | None = None,
    first_sequence: int | None = None,
    on_result: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """The scheduled job: load what is waiting in the drop folder, in sequence order.

    Loaded (and already-loaded) files move to `loaded/`, rejected ones to `rejected/`
    with a `.reason.txt` beside them. A file whose sequence is ahead of the next
    expected stays where it is (it loads by itself once the missing file arrives),
    and so do the files after a rejected one. Hidden files, names ending in
    .part/.tmp/.filepart/.partial and files changed in the last `settle_seconds`
    (still being written) are left for the next run.
    """
    default = Path(_setting("VAR_DIR", Path(settings.BASE_DIR) / "var")) / "extract"
    folder = Path(folder or _setting("EXTRACT_DROP_DIR", default))
    settle = float(_setting("EXTRACT_DROP_SETTLE_SECONDS", 60) if settle_seconds is None else settle_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    candidates = [
        path for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and not path.name.lower().endswith(_PARTIAL_SUFFIXES)
        and not path.name.endswith(".reason.txt") and now - path.stat().st_mtime >= settle
    ]
    results = []
    with import_lock():
        for path in sorted(candidates, key=_sort_key):
            result = import_file(path, first_sequence=_until_first_applied(first_sequence))
            results.append(result)
            if on_result:
                on_result(result)
            if result.outcome in (ExtractImport.APPLIED, ExtractImport.ALREADY_LOADED):
                _move(path, folder / "loaded")
                continue
            if result.waiting:
                break
            moved = _move(path, folder / "rejected")
            moved.with_name(moved.name + ".reason.txt").write_text(result.reason + "\n", encoding="utf-8")
            if result.sequence is not None:
                break  # the later files cannot be next: leave them for after the fix
    return results
