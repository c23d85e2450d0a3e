"""Loading nightly extracts into the local case store (ICD section 2, docs/extract-import.md).

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

This module runs an import (the run records, one import at a time, choosing the
method); `orm_load` and `postgres_load` apply a file; `drop_folder` is the scheduled job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from penaltypay.extract import layout, parser
from penaltypay.extract.models import ExtractImport
from penaltypay.extract.orm_load import OrmLoad
from penaltypay.extract.parser import FileRejected
from penaltypay.extract.postgres_load import PostgresLoad, StoreChangedMeanwhile
from penaltypay.extract.reader import ExtractReader
from penaltypay.extract.rules import cut_at
from penaltypay.kernel.metrics import EXTRACT_IMPORT_SECONDS, EXTRACT_RECORDS

log = logging.getLogger(__name__)

BULK_COPY = "bulk-copy"
STAGED_MERGE = "staged-merge"
ORM = "orm"

# Session advisory lock key: one import at a time per database ('PPEXTRCT').
ADVISORY_LOCK_KEY = 0x5050455854524354


class ImportBusy(Exception):
    """Another import holds the lock; try again when it has finished."""


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
    return int(settings.EXTRACT_FIRST_SEQUENCE)


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


def sort_key(path: Path):
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
    ordered = sorted((Path(p) for p in paths), key=sort_key)
    results = []
    with import_lock():
        for path in ordered:
            result = import_file(path, first_sequence=until_first_applied(first_sequence))
            results.append(result)
            if on_result:
                on_result(result)
    return results


def until_first_applied(first_sequence: int | None) -> int | None:
    """--first-sequence matters only until a file has been applied."""
    if first_sequence is None or ExtractImport.objects.filter(outcome=ExtractImport.APPLIED).exists():
        return None
    return first_sequence


def _host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _record(name: str, started: float, outcome: str, **values) -> ImportResult:
    seconds = time.monotonic() - started
    run = ExtractImport.objects.create(
        file_name=name[:255],
        outcome=outcome,
        started_at=timezone.now() - timedelta(seconds=seconds),
        finished_at=timezone.now(),
        seconds=seconds,
        host=_host(),
        **values,
    )
    result = ImportResult(
        file=name,
        sequence=values.get("sequence"),
        outcome=outcome,
        seconds=seconds,
        reason=values.get("reason", ""),
        run_id=run.pk,
    )
    _log(result)
    return result


def _log(result: ImportResult) -> None:
    level = logging.WARNING if result.outcome in (ExtractImport.REJECTED, ExtractImport.FAILED) else logging.INFO
    log.log(
        level,
        "extract import finished",
        extra={
            "extract_file": result.file,
            "sequence": result.sequence,
            "outcome": result.outcome,
            "read": result.read,
            "applied": result.applied,
            "rejected": result.rejected,
            "conflicts": result.conflicts,
            "seconds": round(result.seconds, 3),
            "reason": result.reason,
            "run_id": result.run_id,
        },
    )


def import_file(path: str | os.PathLike, *, first_sequence: int | None = None) -> ImportResult:
    """Import one file. Never raises for anything wrong with the file (the result says
    `rejected` and why); raises ImportBusy, or database errors after recording `failed`."""
    path = Path(path)
    with import_lock():
        result = _import_file(path, first_sequence)
    EXTRACT_IMPORT_SECONDS.labels(result.outcome).observe(result.seconds)
    for kind, count in (("applied", result.applied), ("rejected", result.rejected), ("conflict", result.conflicts)):
        if count:
            EXTRACT_RECORDS.labels(kind).inc(count)
    return result


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
        return _record(
            name,
            started,
            ExtractImport.REJECTED,
            sequence=named.sequence,
            extract_date=named.extract_date,
            reason=f"cannot read the file: {error.strerror}",
        )
    with stream:
        reader = ExtractReader(stream, chunk_bytes=parser.CHUNK_BYTES)
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
            return _record(
                name,
                started,
                ExtractImport.REJECTED,
                sequence=named.sequence,
                extract_date=named.extract_date,
                size_bytes=size,
                reason=rejected.reason,
            )
        expected = expected_sequence(first_sequence)
        facts = {"sequence": header.sequence, "extract_date": header.extract_date, "size_bytes": size}
        if header.sequence < expected:
            sha256 = reader.hash_rest()
            earlier = ExtractImport.objects.filter(outcome=ExtractImport.APPLIED, sequence=header.sequence).first()
            if earlier is not None and earlier.sha256 == sha256:
                return _record(
                    name,
                    started,
                    ExtractImport.ALREADY_LOADED,
                    sha256=sha256,
                    reason=f"this file was applied by run {earlier.pk}; nothing changed",
                    **facts,
                )
            if earlier is not None:
                reason = f"sequence {header.sequence:06d} was already loaded from a different file"
            else:
                reason = f"sequence {header.sequence:06d} is not the next expected ({expected:06d})"
            return _record(name, started, ExtractImport.REJECTED, sha256=sha256, reason=reason, **facts)
        if header.sequence > expected:
            result = _record(
                name,
                started,
                ExtractImport.REJECTED,
                reason=f"sequence {header.sequence:06d} is not the next expected ({expected:06d})",
                **facts,
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
            outcome=ExtractImport.REJECTED,
            reason=rejected.reason[:500],
            finished_at=timezone.now(),
            seconds=result.seconds,
            method=result.method,
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
        method = BULK_COPY if estimated >= int(settings.EXTRACT_BULK_MIN_RECORDS) else STAGED_MERGE
        try:
            _apply_once(path, header, run, result, started, method)
        except StoreChangedMeanwhile:
            # A case arrived in the store (a keeper's look-up) while COPY was writing it:
            # start again with every record going through the merge.
            log.warning(
                "extract bulk copy met a case stored meanwhile; loading through the merge instead",
                extra={"extract_file": path.name},
            )
            _apply_once(path, header, run, result, started, STAGED_MERGE)
    else:
        _apply_once(path, header, run, result, started, ORM)


def _apply_once(path, header, run, result, started, method) -> None:
    result.method = method
    with open(path, "rb") as stream, transaction.atomic():
        reader = ExtractReader(stream, chunk_bytes=parser.CHUNK_BYTES)
        if parser.parse_header(reader.header()) != header:
            raise FileRejected("the file changed while it was being read")
        cut = cut_at(header.extract_date)
        if method == ORM:
            counts = OrmLoad(run, cut).load(reader)
        else:
            try:
                counts = PostgresLoad(run, cut, bulk=(method == BULK_COPY)).load(reader)
            except psycopg.errors.UniqueViolation as error:
                if method != BULK_COPY:
                    raise
                raise StoreChangedMeanwhile(str(error)) from error
        result.read, result.applied, result.rejected, result.conflicts = counts
        result.outcome = ExtractImport.APPLIED
        result.seconds = time.monotonic() - started
        ExtractImport.objects.filter(pk=run.pk).update(
            outcome=ExtractImport.APPLIED,
            sha256=reader.sha256,
            size_bytes=reader.size,
            records_read=result.read,
            records_applied=result.applied,
            records_rejected=result.rejected,
            records_conflicts=result.conflicts,
            method=method,
            finished_at=timezone.now(),
            seconds=result.seconds,
        )
