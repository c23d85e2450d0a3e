"""Property-based tests (hypothesis): any valid file round-trips into the store exactly;
arbitrary bytes never crash the importer (rejected with a reason, store unchanged);
the fast record check and the rule-by-rule one always agree."""

from __future__ import annotations

import io
from datetime import date

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from penaltypay.cases.domain import CASE_STATUSES, Case
from penaltypay.cases.models import CaseRecord
from penaltypay.extract import (
    copy_rows,
    importer,
    layout,
    parser,
)
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.extract.reader import ExtractReader
from tests.extract.conftest import (
    EXTRACT_DATE,
    as_stored,
    build,
    details_of,
    sample_cases,
    store,
)
from tests.extract.files import format_file

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))
dates = st.dates(min_value=date(layout.FIRST_YEAR, 1, 1), max_value=date(layout.LAST_YEAR, 12, 31))
amounts = st.integers(min_value=0, max_value=layout.MAX_AMOUNT)
free_text = lambda n: st.text(alphabet=PRINTABLE, max_size=n).map(str.strip)  # noqa: E731


@st.composite
def valid_cases(draw, references=None):
    penalty = draw(amounts)
    reduced = draw(st.integers(min_value=0, max_value=penalty))
    deadline = draw(st.none() | dates) if reduced < penalty else None
    period = draw(st.none() | st.tuples(dates, dates).map(sorted))
    return Case(
        reference=draw(
            references if references is not None else st.text(alphabet="0123456789", min_size=8, max_size=8)
        ),
        case_type=draw(st.text(alphabet=ALNUM, min_size=1, max_size=4)),
        vrm=draw(st.text(alphabet=ALNUM, min_size=1, max_size=7)),
        vehicle_make=draw(free_text(20)),
        vehicle_colour=draw(free_text(10)),
        issue_date=draw(dates),
        penalty_pence=penalty,
        reduced_penalty_pence=reduced,
        reduction_deadline=deadline,
        arrears_pence=draw(amounts),
        arrears_from=period[0] if period else None,
        arrears_to=period[1] if period else None,
        pay_by_date=draw(dates),
        status=draw(st.sampled_from(CASE_STATUSES)),
        amount_paid_pence=draw(amounts),
    )


# A small pool of references as well as any 8 digits, so files repeat cases.
some_references = st.sampled_from(["00000000", "12345678", "99999999", "40000001"]) | st.text(
    alphabet="0123456789", min_size=8, max_size=8
)
case_lists = st.lists(valid_cases(some_references), max_size=25)

DB_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def reset_store():
    ExtractRecordIssue.objects.all().delete()
    ExtractImport.objects.all().delete()
    CaseRecord.objects.all().delete()


@pytest.mark.django_db
@DB_SETTINGS
@given(cases=case_lists)
def test_any_valid_file_round_trips_into_the_store_exactly(cases, write_file, method):
    reset_store()
    result = importer.import_file(write_file(format_file(EXTRACT_DATE, 1, cases)))
    assert result.outcome == "applied", result.reason
    assert (result.read, result.applied, result.rejected, result.conflicts) == (len(cases), len(cases), 0, 0)
    expected = {}
    for case in cases:  # a later record replaces an earlier one
        expected[case.reference] = as_stored(case)
    assert store() == expected


def mutations():
    """Bytes near a valid file (the interesting ones) and arbitrary bytes."""
    valid = build(details_of(sample_cases(4)))
    edits = st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(valid) - 1),
            st.binary(max_size=3),
            st.integers(min_value=0, max_value=3),
        ),
        min_size=1,
        max_size=4,
    )

    def apply(edit_list):
        data = bytearray(valid)
        for position, insert, delete in edit_list:
            data[position : position + delete] = insert
        return bytes(data)

    return st.one_of(st.binary(max_size=2000), edits.map(apply), st.just(valid[:-2]), st.just(valid[: len(valid) // 2]))


@pytest.mark.django_db
@DB_SETTINGS
@given(data=mutations())
def test_arbitrary_bytes_never_crash_the_importer(data, write_file, method):
    reset_store()
    CaseRecord.objects.create(reference="77777777", **CaseRecord.fields_from_case(sample_cases(1)[0]))
    before = store()
    result = importer.import_file(write_file(data))
    assert result.outcome in ("applied", "rejected")
    event(f"{result.outcome}{' with rejected records' if result.rejected else ''}")
    if result.outcome == "rejected":
        assert result.reason
        assert store() == before
    else:
        assert result.read == result.applied + result.rejected + result.conflicts
        assert ExtractRecordIssue.objects.filter(kind="rejected").count() == result.rejected


@pytest.mark.django_db
@DB_SETTINGS
@given(name=st.text(max_size=60).filter(lambda n: n and "/" not in n and "\x00" not in n and n not in (".", "..")))
def test_any_file_name_is_handled(name, tmp_path):
    reset_store()
    try:
        path = tmp_path / name
        path.write_bytes(format_file(EXTRACT_DATE, 1, sample_cases(1)))
    except (OSError, UnicodeEncodeError):
        assume(False)
    result = importer.import_file(path)
    assert result.outcome in ("applied", "rejected")
    assert (result.outcome == "applied") == (name == "ECS_EXTRACT_20261124_000001.DAT")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=3000), chunk=st.integers(min_value=1, max_value=400))
def test_arbitrary_bytes_never_crash_the_reader(data, chunk):
    reader = ExtractReader(io.BytesIO(data), chunk_bytes=chunk)
    try:
        parser.parse_header(reader.header())
        total = 0
        for first, lines in reader.batches():
            rows, staged, rejected, penalties = copy_rows.copy_batch(lines, first, b"tail\n")
            total += penalties
            for _, line in rejected:
                assert parser.explain_detail(line) is not None
        parser.check_trailer(parser.parse_trailer(reader.trailer), reader.detail_count, total)
    except parser.FileRejected as rejected:
        assert rejected.reason


def near_records():
    record = st.sampled_from(details_of(sample_cases(3)))
    columns = st.integers(min_value=0, max_value=152)
    junk = st.sampled_from([b" ", b"0", b"9", b"A", b"a", b"-", b"\\", b"2", b"1", b"3", b"O", b"X", b"        "])
    edits = st.lists(st.tuples(columns, junk, st.integers(min_value=0, max_value=1)), max_size=4)

    def apply(args):
        line, edit_list = args
        data = bytearray(line)
        for position, insert, overwrite in edit_list:
            end = position + len(insert) if overwrite else position
            data[position:end] = insert
        return bytes(data)

    printable = st.binary(min_size=140, max_size=155).map(lambda b: bytes(0x20 + x % 95 for x in b))
    return (
        st.tuples(record, edits).map(apply)
        | printable
        | st.builds(lambda case: layout.format_detail(case), valid_cases())
    )


@settings(max_examples=1000, deadline=None)
@given(line=near_records())
def test_fast_check_and_rule_by_rule_check_agree(line):
    explained = parser.explain_detail(line)
    fields = parser.parse_detail(line)
    rows, staged, rejected, _ = copy_rows.copy_batch([line], 2, b"tail\n")
    assert (explained is None) == (fields is not None) == (len(rows) == 1) == (not rejected)
    if fields is not None:
        row = rows[0].split(b"\t")
        assert row[0] == b"2" and row[1] == fields[0] and row[5] == fields[4].replace(b"\\", b"\\\\")


@settings(max_examples=300, deadline=None)
@given(case=valid_cases())
def test_a_valid_case_reads_back_as_itself(case):
    line = layout.format_detail(case)
    assert parser.explain_detail(line) is None
    assert parser.fields_to_case(parser.parse_detail(line)) == case
