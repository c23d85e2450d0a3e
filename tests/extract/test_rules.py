"""Every whole-file rule and every record rule, each broken input with the exact reason
expected; first on the parser alone (no database), then through the importer."""

from __future__ import annotations

import io

import pytest

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
    CRLF,
    EXTRACT_DATE,
    build,
    details_of,
    header,
    sample_cases,
    store,
    trailer_for,
)

GOOD = details_of(sample_cases(3))
TOTAL = sum(parser.penalty_of(line) for line in GOOD)


def put(record: bytes, position: int, value: bytes) -> bytes:
    """The record with `value` written at 1-based column `position`."""
    return record[: position - 1] + value + record[position - 1 + len(value) :]


def with_detail(index: int, position: int, value: bytes) -> list[bytes]:
    details = list(GOOD)
    details[index] = put(details[index], position, value)
    return details


# --- whole-file rules ---------------------------------------------------------------

FILE_CASES = [
    ("empty file", b"", "file is empty: missing header"),
    (
        "no header",
        b"".join(r + CRLF for r in [*GOOD, trailer_for(GOOD)]),
        "missing header: the first record's type is 'D', expected 'H'",
    ),
    ("empty first record", CRLF + build(GOOD), "missing header: the first record is empty"),
    (
        "header too short",
        build(GOOD, head=header()[:-1]),
        "header is malformed: record is 149 characters, expected 150",
    ),
    (
        "header too long",
        build(GOOD, head=header() + b" "),
        "header is malformed: record is 151 characters, expected 150",
    ),
    (
        "header date not a date",
        build(GOOD, head=put(header(), 2, b"20261332")),
        "header is malformed: extract date '20261332' is not a valid date",
    ),
    (
        "header sequence not digits",
        build(GOOD, head=put(header(), 10, b"00000A")),
        "header is malformed: sequence number '00000A' is not 6 digits",
    ),
    (
        "header source not ECS",
        build(GOOD, head=put(header(), 16, b"XCS")),
        "header is malformed: source system 'XCS     ' is not 'ECS'",
    ),
    (
        "header filler not spaces",
        build(GOOD, head=put(header(), 150, b"X")),
        "header is malformed: columns 24-150 are not all spaces",
    ),
    (
        "header sequence differs from the name",
        build(GOOD, sequence=2),
        "header sequence 000002 does not match the file name's 000001",
    ),
    (
        "header date differs from the name",
        build(GOOD, head=put(header(), 2, b"20261125")),
        "header date 20261125 does not match the file name's 20261124",
    ),
    ("header only", header() + CRLF, "missing trailer: the file ends after the header"),
    (
        "no trailer",
        b"".join(r + CRLF for r in [header(), *GOOD]),
        "missing trailer: the last record's type is 'D', expected 'T'",
    ),
    ("blank line after the trailer", build(GOOD) + CRLF, "missing trailer: the last record is empty"),
    (
        "records after the trailer",
        b"".join(r + CRLF for r in [header(), GOOD[0], trailer_for(GOOD[:1]), *GOOD[1:]]),
        "missing trailer: the last record's type is 'D', expected 'T'",
    ),
    (
        "trailer too short",
        build(GOOD, trailer=trailer_for(GOOD)[:-1]),
        "trailer is malformed: record is 149 characters, expected 150",
    ),
    (
        "trailer count not digits",
        build(GOOD, trailer=put(trailer_for(GOOD), 2, b"00000000X")),
        "trailer is malformed: record count '00000000X' is not 9 digits",
    ),
    (
        "trailer total not digits",
        build(GOOD, trailer=put(trailer_for(GOOD), 11, b" " * 15)),
        "trailer is malformed: penalty total '               ' is not 15 digits",
    ),
    (
        "trailer filler not spaces",
        build(GOOD, trailer=put(trailer_for(GOOD), 26, b"0")),
        "trailer is malformed: columns 26-150 are not all spaces",
    ),
    (
        "count disagrees",
        build(GOOD, trailer=layout.format_trailer(4, TOTAL)),
        "trailer count 4 disagrees with the 3 detail records in the file",
    ),
    (
        "count disagrees (a record lost)",
        build(GOOD[:2], trailer=layout.format_trailer(3, TOTAL)),
        "trailer count 3 disagrees with the 2 detail records in the file",
    ),
    (
        "total disagrees",
        build(GOOD, trailer=layout.format_trailer(3, TOTAL + 1)),
        f"trailer total {TOTAL + 1} disagrees with the sum of the detail records' penalty amounts ({TOTAL})",
    ),
    ("not ASCII", build(with_detail(1, 21, "É".encode())), "not ASCII: byte 0xC3 at line 3"),
    ("Latin-1 byte", build(with_detail(0, 30, b"\xa3")), "not ASCII: byte 0xA3 at line 2"),
    ("tab", build(with_detail(1, 21, b"\t")), "control character 0x09 at line 3"),
    ("NUL", build(with_detail(0, 5, b"\x00")), "control character 0x00 at line 2"),
    ("LF line ends", build(GOOD).replace(CRLF, b"\n"), "line 1 does not end with CRLF"),
    ("one LF line end", build(GOOD).replace(GOOD[1] + CRLF, GOOD[1] + b"\n"), "line 3 does not end with CRLF"),
    ("CR inside a record", build(with_detail(0, 40, b"\r")), "line 2 does not end with CRLF"),
    ("no CRLF after the trailer", build(GOOD)[:-2], "line 5 does not end with CRLF"),
    (
        "a line with no end at all",
        build(GOOD)[:-2] + b"x" * (parser.MAX_LINE_BYTES + 10),
        "line 5 has no line end within 1048576 bytes",
    ),
    (
        "every record 151 characters",
        b"".join(r + b" " + CRLF for r in [header(), *GOOD, trailer_for(GOOD)]),
        "header is malformed: record is 151 characters, expected 150",
    ),
]


def read_whole(data: bytes, chunk_bytes: int = parser.CHUNK_BYTES):
    """What the importer does with a file's content, without a database."""
    reader = ExtractReader(io.BytesIO(data), chunk_bytes=chunk_bytes)
    head = parser.parse_header(reader.header())
    total = 0
    for _, lines in reader.batches():
        total += sum(parser.penalty_of(line) for line in lines)
    parser.check_trailer(parser.parse_trailer(reader.trailer), reader.detail_count, total)
    return head


@pytest.mark.parametrize("chunk_bytes", [parser.CHUNK_BYTES, 7])
@pytest.mark.parametrize(
    "case, data, reason",
    [c for c in FILE_CASES if "name" not in c[0]],
    ids=[c[0] for c in FILE_CASES if "name" not in c[0]],
)
def test_reader_rejects_the_file(case, data, reason, chunk_bytes):
    with pytest.raises(parser.FileRejected) as rejected:
        read_whole(data, chunk_bytes)
    assert rejected.value.reason == reason


def test_a_good_file_reads_in_any_chunk_size():
    for chunk_bytes in (1, 2, 151, 152, 153, 4096):
        assert read_whole(build(GOOD), chunk_bytes) == parser.Header(EXTRACT_DATE, 1)


NAME_CASES = [
    ("ecs_extract_20261124_000001.dat", "file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT"),
    ("ECS_EXTRACT_20261124_000001.DAT.gz", "file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT"),
    ("ECS_EXTRACT_20261124_1.DAT", "file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT"),
    ("ECS_EXTRACT_2026112_000001.DAT", "file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT"),
    ("ECS_EXTRACT_20261124_000001.TXT", "file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT"),
    ("extract.dat", "file name does not match ECS_EXTRACT_<YYYYMMDD>_<SEQ6>.DAT"),
    ("ECS_EXTRACT_20261332_000001.DAT", "file name date 20261332 is not a valid date"),
    ("ECS_EXTRACT_20250229_000001.DAT", "file name date 20250229 is not a valid date"),
]


@pytest.mark.parametrize("name, reason", NAME_CASES)
def test_file_name_rule(name, reason):
    with pytest.raises(parser.FileRejected) as rejected:
        parser.parse_file_name(name)
    assert rejected.value.reason == reason


def test_file_name_parts():
    assert parser.parse_file_name("ECS_EXTRACT_20240229_000042.DAT") == parser.Header(
        extract_date=EXTRACT_DATE.replace(year=2024, month=2, day=29), sequence=42
    )


# --- record rules ---------------------------------------------------------------------

R = GOOD[0]  # a 7A: penalty 8000 reduced to 4000 with a deadline, no arrears
K = GOOD[1]  # a 29KK: no reduction, arrears with their period

RECORD_CASES = [
    ("too short", R[:-1], "record", "record is 149 characters, expected 150"),
    ("too long", R + b" ", "record", "record is 151 characters, expected 150"),
    ("empty", b"", "record", "record is 0 characters, expected 150"),
    ("record type", put(R, 1, b"X"), "record_type", "record type is 'X', expected 'D'"),
    ("second header", put(R, 1, b"H"), "record_type", "record type is 'H', expected 'D'"),
    ("reference letter", put(R, 2, b"4001234A"), "reference", "case reference is not 8 digits"),
    ("reference spaces", put(R, 2, b"4001234 "), "reference", "case reference is not 8 digits"),
    (
        "case type lower case",
        put(R, 10, b"7a  "),
        "case_type",
        "case type is not 1-4 upper-case letters or digits, left-aligned",
    ),
    (
        "case type right-aligned",
        put(R, 10, b"  7A"),
        "case_type",
        "case type is not 1-4 upper-case letters or digits, left-aligned",
    ),
    (
        "case type blank",
        put(R, 10, b"    "),
        "case_type",
        "case type is not 1-4 upper-case letters or digits, left-aligned",
    ),
    (
        "case type with a space",
        put(R, 10, b"1 4A"),
        "case_type",
        "case type is not 1-4 upper-case letters or digits, left-aligned",
    ),
    (
        "vrm lower case",
        put(R, 14, b"ab12cde"),
        "vrm",
        "registration mark is not 1-7 upper-case letters or digits, left-aligned",
    ),
    (
        "vrm with a space",
        put(R, 14, b"AB12 CD"),
        "vrm",
        "registration mark is not 1-7 upper-case letters or digits, left-aligned",
    ),
    (
        "vrm right-aligned",
        put(R, 14, b"     T5"),
        "vrm",
        "registration mark is not 1-7 upper-case letters or digits, left-aligned",
    ),
    (
        "vrm blank",
        put(R, 14, b"       "),
        "vrm",
        "registration mark is not 1-7 upper-case letters or digits, left-aligned",
    ),
    (
        "issue date month 13",
        put(R, 51, b"20261301"),
        "issue_date",
        "issue date '20261301' is not a valid date (YYYYMMDD)",
    ),
    (
        "issue date 29 Feb not leap",
        put(R, 51, b"20250229"),
        "issue_date",
        "issue date '20250229' is not a valid date (YYYYMMDD)",
    ),
    (
        "issue date absent",
        put(R, 51, b"        "),
        "issue_date",
        "issue date '        ' is not a valid date (YYYYMMDD)",
    ),
    (
        "issue date before 1900",
        put(R, 51, b"18991231"),
        "issue_date",
        "issue date '18991231' is not a valid date (YYYYMMDD)",
    ),
    (
        "issue date with letters",
        put(R, 51, b"2026O101"),
        "issue_date",
        "issue date '2026O101' is not a valid date (YYYYMMDD)",
    ),
    ("penalty not digits", put(R, 59, b"00000800A"), "penalty_pence", "penalty amount is not 9 digits"),
    ("penalty spaces", put(R, 59, b"     8000"), "penalty_pence", "penalty amount is not 9 digits"),
    ("reduced not digits", put(R, 68, b"-00004000"), "reduced_penalty_pence", "reduced penalty amount is not 9 digits"),
    (
        "deadline 31 Nov",
        put(R, 77, b"20261131"),
        "reduction_deadline",
        "reduction deadline '20261131' is not a valid date (YYYYMMDD) or spaces",
    ),
    (
        "deadline half blank",
        put(R, 77, b"2026    "),
        "reduction_deadline",
        "reduction deadline '2026    ' is not a valid date (YYYYMMDD) or spaces",
    ),
    ("arrears not digits", put(K, 85, b"         "), "arrears_pence", "arrears amount is not 9 digits"),
    (
        "arrears from not a date",
        put(K, 94, b"20260000"),
        "arrears_from",
        "arrears from date '20260000' is not a valid date (YYYYMMDD) or spaces",
    ),
    (
        "arrears to not a date",
        put(K, 102, b"20261032"),
        "arrears_to",
        "arrears to date '20261032' is not a valid date (YYYYMMDD) or spaces",
    ),
    ("pay-by absent", put(R, 110, b"        "), "pay_by_date", "pay-by date '        ' is not a valid date (YYYYMMDD)"),
    (
        "pay-by not a date",
        put(R, 110, b"21000101"),
        "pay_by_date",
        "pay-by date '21000101' is not a valid date (YYYYMMDD)",
    ),
    ("unknown status", put(R, 118, b"X"), "status", "unknown status code 'X'"),
    ("status lower case", put(R, 118, b"o"), "status", "unknown status code 'o'"),
    ("status blank", put(R, 118, b" "), "status", "unknown status code ' '"),
    ("amount paid not digits", put(R, 119, b"0000000.0"), "amount_paid_pence", "amount paid is not 9 digits"),
    (
        "reduced above the penalty",
        put(R, 68, b"000008001"),
        "reduced_penalty_pence",
        "reduced penalty amount is above the penalty amount",
    ),
    (
        "reduced above the penalty, no deadline",
        put(K, 68, b"999999999"),
        "reduced_penalty_pence",
        "reduced penalty amount is above the penalty amount",
    ),
    (
        "deadline without a reduction",
        put(R, 68, b"000008000"),
        "reduction_deadline",
        "reduction deadline without a reduction (reduced amount equals the penalty)",
    ),
    (
        "deadline without a reduction (29KK)",
        put(K, 77, b"20261201"),
        "reduction_deadline",
        "reduction deadline without a reduction (reduced amount equals the penalty)",
    ),
    (
        "arrears from without to",
        put(K, 102, b"        "),
        "arrears_to",
        "arrears period has one date without the other",
    ),
    (
        "arrears to without from",
        put(K, 94, b"        "),
        "arrears_from",
        "arrears period has one date without the other",
    ),
    (
        "arrears period reversed",
        put(put(K, 94, b"20261031"), 102, b"20260501"),
        "arrears_to",
        "arrears period ends before it starts",
    ),
]


@pytest.mark.parametrize("case, record, field, reason", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_record_rule(case, record, field, reason):
    assert parser.explain_detail(record) == (field, reason)
    assert parser.parse_detail(record) is None
    rows, staged, rejected, _ = copy_rows.copy_batch([record], 7, b"tail\n")
    assert rows == [] and staged == [] and rejected == [(7, record)]


ACCEPTED = [
    ("reduction without a deadline (amount due ignores it)", put(K, 68, b"000000001")),
    ("arrears period of one day", put(put(K, 94, b"20260501"), 102, b"20260501")),
    ("unknown but well-formed case type", put(R, 10, b"23B ")),
    ("reserved columns hold something", put(R, 128, b"FUTURE USE")),
    ("free text with punctuation and a backslash", put(R, 21, b"MERCEDES\\BENZ & CO!")),
    ("empty make and colour", put(R, 21, b" " * 30)),
    ("leap day", put(R, 51, b"20240229")),
    ("every status letter", put(R, 118, b"N")),
]


@pytest.mark.parametrize("case, record", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_record_accepted(case, record):
    assert parser.explain_detail(record) is None
    assert parser.parse_detail(record) is not None


def test_free_text_is_trimmed_and_escaped_for_copy():
    record = put(R, 21, b"MERCEDES\\BENZ       RED       ")
    fields = parser.parse_detail(record)
    assert fields[3] == b"MERCEDES\\BENZ" and fields[4] == b"RED"
    rows, _, _, _ = copy_rows.copy_batch([record], 2, b"tail\n")
    assert rows[0].split(b"\t")[4] == b"MERCEDES\\\\BENZ"


# --- the same rules through the importer -------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytestmark_db
@pytest.mark.parametrize("case, data, reason", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_importer_rejects_the_whole_file_and_applies_nothing(case, data, reason, write_file, method):
    CaseRecord.objects.create(reference="40000001", **CaseRecord.fields_from_case(sample_cases(1)[0]))
    before = store()
    result = importer.import_file(write_file(data))
    assert (result.outcome, result.reason) == ("rejected", reason)
    assert (result.read, result.applied, result.rejected, result.conflicts) == (0, 0, 0, 0)
    assert store() == before
    run = ExtractImport.objects.get(pk=result.run_id)
    assert (run.outcome, run.reason) == ("rejected", reason)
    assert not ExtractRecordIssue.objects.exists()


@pytestmark_db
@pytest.mark.parametrize("name, reason", NAME_CASES)
def test_importer_rejects_a_badly_named_file(name, reason, write_file):
    result = importer.import_file(write_file(build(GOOD), name=name))
    assert (result.outcome, result.reason, result.sequence) == ("rejected", reason, None)
    assert not CaseRecord.objects.exists()
    assert ExtractImport.objects.get(pk=result.run_id).file_name == name


@pytestmark_db
@pytest.mark.parametrize("case, record, field, reason", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_importer_rejects_the_record_alone(case, record, field, reason, write_file, method):
    good = details_of(sample_cases(3, first_reference=50000001))
    details = [good[0], record, good[1], good[2]]
    result = importer.import_file(write_file(build(details)))
    assert result.outcome == "applied", result.reason
    assert (result.read, result.applied, result.rejected, result.conflicts) == (4, 3, 1, 0)
    assert set(store()) == {"50000001", "50000002", "50000003"}
    issue = ExtractRecordIssue.objects.get()
    assert (issue.kind, issue.line, issue.field, issue.reason) == ("rejected", 3, field, reason)
    assert issue.reference == record[1:9].decode().strip()
