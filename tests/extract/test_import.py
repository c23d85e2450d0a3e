"""The importer's behaviour: upserts, the no-reopen rule, idempotency, the sequence rule,
run records, the command and the drop folder."""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from penaltypay.cases.domain import OPEN, PAID
from penaltypay.cases.models import CaseRecord
from penaltypay.extract import drop_folder, importer, layout, postgres_load, rules
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.extract.reader import ExtractReader
from penaltypay.kernel.clock import LONDON
from penaltypay.payments.models import Payment
from tests.extract.conftest import (
    EXTRACT_DATE,
    as_stored,
    build,
    details_of,
    header,
    open_case,
    sample_cases,
    store,
    trailer_for,
)
from tests.extract.files import format_file

pytestmark = pytest.mark.django_db

CUT = datetime(2026, 11, 24, 0, 0, tzinfo=LONDON)  # the cut of EXTRACT_DATE's file (docs/extract-import.md)


def extract(cases, sequence=1, extract_date=EXTRACT_DATE) -> bytes:
    return format_file(extract_date, sequence, cases)


def test_a_file_round_trips_into_the_store(write_file, method):
    cases = sample_cases(6)
    result = importer.import_file(write_file(extract(cases)))
    assert result.outcome == "applied", result.reason
    assert (result.read, result.applied, result.rejected, result.conflicts) == (6, 6, 0, 0)
    assert result.method == method
    assert store() == {case.reference: as_stored(case) for case in cases}
    assert set(CaseRecord.objects.values_list("source", flat=True)) == {CaseRecord.SOURCE_EXTRACT}


def test_a_later_record_replaces_the_earlier_one(write_file, method):
    first = sample_cases(3)
    importer.import_file(write_file(extract(first, 1)))
    CaseRecord.objects.create(reference="99999999", **CaseRecord.fields_from_case(open_case(reference="99999999")))
    changed = replace(first[1], status=PAID, amount_paid_pence=first[1].penalty_pence + first[1].arrears_pence)
    new = open_case(reference="40000009", vrm="NEW1")
    result = importer.import_file(
        write_file(
            extract([changed, new], 2, EXTRACT_DATE + timedelta(days=1)),
            sequence=2,
            extract_date=EXTRACT_DATE + timedelta(days=1),
        )
    )
    assert (result.outcome, result.applied) == ("applied", 2)
    assert store() == {
        first[0].reference: as_stored(first[0]),
        changed.reference: as_stored(changed),
        first[2].reference: as_stored(first[2]),
        new.reference: as_stored(new),
        "99999999": open_case(reference="99999999"),  # not in the file: untouched
    }


def test_within_a_file_the_later_record_wins(write_file, method):
    a = open_case(reference="40000001", vrm="FIRST")
    b = open_case(reference="40000002")
    a_again = replace(a, vrm="SECOND", amount_paid_pence=100, status="PART_PAID")
    a_last = replace(a, vrm="THIRD")
    result = importer.import_file(write_file(extract([a, b, a_again, a_last])))
    assert (result.read, result.applied) == (4, 4)
    assert store() == {"40000001": as_stored(a_last), "40000002": as_stored(b)}


def test_a_rejected_later_record_leaves_the_earlier_one(write_file, method):
    a = open_case(reference="40000001")
    bad = layout.format_detail(replace(a, vrm="OTHER"))[:-1]
    data = build([layout.format_detail(a), bad])
    result = importer.import_file(write_file(data))
    assert (result.applied, result.rejected) == (1, 1)
    assert store() == {"40000001": as_stored(a)}


# --- the no-reopen rule ----------------------------------------------------------------------


_payment_numbers = itertools.count(1)


def paid(reference: str, authorised_at, ecs_recorded_at=None, status="success"):
    return Payment.objects.create(
        reference=f"PP-TEST-{next(_payment_numbers):04d}",
        first_case_reference=reference,
        case_type="7A",
        amount_pence=4000,
        description="test",
        status=status,
        authorised_at=authorised_at,
        ecs_recorded_at=ecs_recorded_at,
    )


def test_money_taken_since_the_cut_keeps_our_newer_record(write_file, method):
    ours = open_case(reference="40000001", status=PAID, amount_paid_pence=4000)
    CaseRecord.objects.create(reference=ours.reference, **CaseRecord.fields_from_case(ours))
    paid("40000001", authorised_at=CUT + timedelta(hours=9), ecs_recorded_at=CUT + timedelta(hours=9, minutes=1))
    stale = open_case(reference="40000001", status=OPEN, amount_paid_pence=0)  # ECS before the payment
    other = open_case(reference="40000002")
    result = importer.import_file(write_file(extract([stale, other])))
    assert result.outcome == "applied"
    assert (result.read, result.applied, result.rejected, result.conflicts) == (2, 1, 0, 1)
    assert store() == {"40000001": ours, "40000002": as_stored(other)}
    issue = ExtractRecordIssue.objects.get()
    assert (issue.kind, issue.line, issue.reference, issue.field) == ("conflict", 2, "40000001", "reference")
    assert issue.reason == rules.CONFLICT_REASON


def test_money_recorded_by_ecs_after_the_cut_is_newer_too(write_file, method):
    ours = open_case(reference="40000001", status=PAID, amount_paid_pence=4000)
    CaseRecord.objects.create(reference=ours.reference, **CaseRecord.fields_from_case(ours))
    # Taken the evening before, but ECS was down: it recorded the payment after the cut.
    paid("40000001", authorised_at=CUT - timedelta(hours=2), ecs_recorded_at=CUT + timedelta(hours=3))
    result = importer.import_file(write_file(extract([open_case(reference="40000001")])))
    assert (result.applied, result.conflicts) == (0, 1)
    assert store() == {"40000001": ours}


def test_a_case_we_paid_but_never_stored_is_not_created_from_older_news(write_file, method):
    paid("40000003", authorised_at=CUT + timedelta(hours=1))
    result = importer.import_file(write_file(extract([open_case(reference="40000003")])))
    assert (result.applied, result.conflicts) == (0, 1)
    assert store() == {}


def test_payments_before_the_cut_or_not_successful_do_not_block(write_file, method):
    recorded_before = open_case(reference="40000001", status=PAID, amount_paid_pence=4000)
    paid("40000001", authorised_at=CUT - timedelta(days=2), ecs_recorded_at=CUT - timedelta(days=2))
    paid("40000002", authorised_at=CUT + timedelta(hours=1), status="failed")
    # Taken before the cut and still waiting for ECS: applying is right (the pending
    # payment still counts against what is due until ECS records it).
    paid("40000003", authorised_at=CUT - timedelta(minutes=5), ecs_recorded_at=None)
    cases = [recorded_before, open_case(reference="40000002"), open_case(reference="40000003")]
    result = importer.import_file(write_file(extract(cases)))
    assert (result.applied, result.conflicts) == (3, 0)
    assert store() == {case.reference: as_stored(case) for case in cases}


def test_cut_is_the_start_of_the_extract_date_in_london():
    assert rules.cut_at(EXTRACT_DATE) == CUT
    summer = rules.cut_at(EXTRACT_DATE.replace(month=7, day=1))
    assert summer.utcoffset() == timedelta(hours=1) and (summer.hour, summer.minute) == (0, 0)


# --- idempotency and the sequence rule ---------------------------------------------------------


def test_loading_the_same_file_twice_changes_nothing_and_says_so(write_file, method):
    path = write_file(extract(sample_cases(3)))
    first = importer.import_file(path)
    CaseRecord.objects.filter(reference="40000001").update(vehicle_colour="CHANGED BY A LOOK-UP")
    before = store()
    again = importer.import_file(path)
    assert again.outcome == "already-loaded"
    assert (again.read, again.applied, again.rejected, again.conflicts) == (0, 0, 0, 0)
    assert again.reason == f"this file was applied by run {first.run_id}; nothing changed"
    assert store() == before
    assert ExtractImport.objects.filter(outcome="applied").count() == 1


def test_the_first_sequence_is_one_unless_configured(write_file, settings):
    result = importer.import_file(write_file(extract(sample_cases(1), 7), sequence=7))
    assert (result.outcome, result.reason) == ("rejected", "sequence 000007 is not the next expected (000001)")
    settings.EXTRACT_FIRST_SEQUENCE = 7
    assert importer.import_file(write_file(extract(sample_cases(1), 7), sequence=7)).outcome == "applied"


def test_first_sequence_option_only_before_the_first_load(write_file):
    assert (
        importer.import_file(write_file(extract(sample_cases(1), 42), sequence=42), first_sequence=42).outcome
        == "applied"
    )
    with pytest.raises(ValueError, match="next expected is 000043"):
        importer.import_file(write_file(extract(sample_cases(1), 43), sequence=43), first_sequence=1)
    assert importer.import_file(write_file(extract(sample_cases(1), 43), sequence=43)).outcome == "applied"


def test_sequence_must_be_the_next_one(write_file):
    day = EXTRACT_DATE
    assert importer.import_file(write_file(extract(sample_cases(1), 1, day), sequence=1)).outcome == "applied"
    gap = importer.import_file(write_file(extract(sample_cases(1), 3, day), sequence=3))
    assert (gap.outcome, gap.reason, gap.waiting) == (
        "rejected",
        "sequence 000003 is not the next expected (000002)",
        True,
    )
    changed = importer.import_file(write_file(extract(sample_cases(2), 1, day), name="ECS_EXTRACT_20261124_000001.DAT"))
    assert (changed.outcome, changed.reason) == ("rejected", "sequence 000001 was already loaded from a different file")
    assert importer.import_file(write_file(extract(sample_cases(1), 2, day), sequence=2)).outcome == "applied"
    assert importer.import_file(write_file(extract(sample_cases(1), 3, day), sequence=3)).outcome == "applied"


def test_a_rejected_file_does_not_use_up_its_sequence(write_file):
    broken = build(details_of(sample_cases(2)), trailer=layout.format_trailer(9, 0))
    assert importer.import_file(write_file(broken)).outcome == "rejected"
    assert importer.expected_sequence() == 1
    assert importer.import_file(write_file(extract(sample_cases(2)))).outcome == "applied"
    assert importer.expected_sequence() == 2


def test_files_load_in_sequence_order(write_file):
    paths = [write_file(extract([open_case(reference="40000001", vrm=f"SEQ{n}")], n), sequence=n) for n in (3, 1, 2)]
    results = importer.import_files(paths)
    assert [(r.sequence, r.outcome) for r in results] == [(1, "applied"), (2, "applied"), (3, "applied")]
    assert store()["40000001"].vrm == "SEQ3"


def test_an_interrupted_run_is_marked_by_the_next_import(write_file):
    stale = ExtractImport.objects.create(
        file_name="ECS_EXTRACT_20261124_000001.DAT", sequence=1, outcome="running", started_at=timezone.now()
    )
    assert importer.import_file(write_file(extract(sample_cases(1)))).outcome == "applied"
    stale.refresh_from_db()
    assert stale.outcome == "interrupted" and "nothing of it was applied" in stale.reason


# --- the command ----------------------------------------------------------------------------------


def run_command(*args):
    from io import StringIO

    out = StringIO()
    try:
        call_command("import_extract", *args, stdout=out)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def test_command_json_one_object_per_file(write_file):
    good = details_of(sample_cases(2))
    bad_record = good[1][:-1]
    first = write_file(build([good[0], bad_record]), sequence=1)
    second = write_file(extract(sample_cases(1), 2), sequence=2)
    code, out = run_command(str(second), str(first), "--json")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["sequence"] for line in lines] == [1, 2]
    assert lines[0] == {
        "file": "ECS_EXTRACT_20261124_000001.DAT",
        "sequence": 1,
        "outcome": "applied",
        "read": 2,
        "applied": 1,
        "rejected": 1,
        "conflicts": 0,
        "seconds": lines[0]["seconds"],
        "run_id": lines[0]["run_id"],
        "method": lines[0]["method"],
        "rejected_records": [
            {"line": 3, "reference": "40000002", "field": "record", "reason": "record is 149 characters, expected 150"}
        ],
        "conflict_records": [],
    }
    assert lines[1]["outcome"] == "applied" and lines[1]["rejected_records"] == []
    code, out = run_command(str(first), "--json")
    assert code == 0 and json.loads(out)["outcome"] == "already-loaded"


def test_command_exits_non_zero_when_a_file_is_rejected(write_file):
    path = write_file(build(details_of(sample_cases(1)), trailer=layout.format_trailer(2, 8000)))
    code, out = run_command(str(path), "--json")
    assert code == 1
    line = json.loads(out)
    assert (line["outcome"], line["reason"]) == (
        "rejected",
        "trailer count 2 disagrees with the 1 detail records in the file",
    )
    code, out = run_command(str(path))
    assert code == 1 and "REJECTED: trailer count 2 disagrees" in out


def test_command_text_output_lists_rejected_records(write_file):
    good = details_of(sample_cases(1))[0]
    code, out = run_command(str(write_file(build([good, good[:-2]]))))
    assert code == 0
    assert "applied: read 2, applied 1, rejected 1, conflicts 0" in out
    assert "line 3: rejected record: record is 148 characters, expected 150" in out


def test_command_usage_errors():
    assert run_command()[0] == 2
    assert run_command("x", "--drop-folder")[0] == 2


# --- the drop folder ---------------------------------------------------------------------------


def test_drop_folder_loads_in_order_and_files_what_it_has_done(tmp_path, settings):
    drop = tmp_path / "drop"
    drop.mkdir()
    settings.EXTRACT_DROP_DIR = drop
    for n in (2, 1):
        (drop / layout.file_name(EXTRACT_DATE, n)).write_bytes(extract([open_case(reference=f"4000000{n}")], n))
    (drop / "ECS_EXTRACT_20261124_000003.DAT.part").write_bytes(b"still arriving")
    (drop / ".hidden").write_bytes(b"x")
    results = drop_folder.import_drop_folder(settle_seconds=0)
    assert [(r.sequence, r.outcome) for r in results] == [(1, "applied"), (2, "applied")]
    assert sorted(p.name for p in (drop / "loaded").iterdir()) == [
        "ECS_EXTRACT_20261124_000001.DAT",
        "ECS_EXTRACT_20261124_000002.DAT",
    ]
    assert sorted(p.name for p in drop.iterdir() if p.is_file()) == [".hidden", "ECS_EXTRACT_20261124_000003.DAT.part"]


def test_drop_folder_leaves_a_file_ahead_of_a_gap_and_rejects_bad_ones(tmp_path):
    drop = tmp_path
    (drop / layout.file_name(EXTRACT_DATE, 2)).write_bytes(extract(sample_cases(1), 2))
    results = drop_folder.import_drop_folder(drop, settle_seconds=0)
    assert [(r.outcome, r.reason) for r in results] == [
        ("rejected", "sequence 000002 is not the next expected (000001)")
    ]
    assert (drop / layout.file_name(EXTRACT_DATE, 2)).exists()  # waits for 000001

    (drop / layout.file_name(EXTRACT_DATE, 1)).write_bytes(build(details_of(sample_cases(1)), trailer=trailer_for([])))
    (drop / "notes.txt").write_bytes(b"hello")
    results = drop_folder.import_drop_folder(drop, settle_seconds=0)
    assert [(r.file, r.outcome) for r in results] == [
        ("notes.txt", "rejected"),
        ("ECS_EXTRACT_20261124_000001.DAT", "rejected"),
    ]
    assert (drop / "rejected" / "ECS_EXTRACT_20261124_000001.DAT").exists()
    assert (drop / "rejected" / "ECS_EXTRACT_20261124_000001.DAT.reason.txt").read_text() == (
        "trailer count 0 disagrees with the 1 detail records in the file\n"
    )
    assert (drop / layout.file_name(EXTRACT_DATE, 2)).exists()  # not attempted after the rejection

    (drop / layout.file_name(EXTRACT_DATE, 1)).write_bytes(extract(sample_cases(1), 1))  # ECS resends it
    results = drop_folder.import_drop_folder(drop, settle_seconds=0)
    assert [(r.sequence, r.outcome) for r in results] == [(1, "applied"), (2, "applied")]


def test_drop_folder_waits_for_a_file_still_being_written(tmp_path):
    path = tmp_path / layout.file_name(EXTRACT_DATE, 1)
    path.write_bytes(extract(sample_cases(1)))
    just_now = time.time()  # the service's clock, which a shifted-clock run moves and the disk's does not
    os.utime(path, (just_now, just_now))
    assert drop_folder.import_drop_folder(tmp_path, settle_seconds=3600) == []
    old = time.time() - 7200
    os.utime(path, (old, old))
    assert [r.outcome for r in drop_folder.import_drop_folder(tmp_path, settle_seconds=3600)] == ["applied"]


def test_drop_folder_never_follows_a_link_out_of_the_folder(tmp_path):
    drop, elsewhere = tmp_path / "drop", tmp_path / "elsewhere"
    drop.mkdir()
    elsewhere.mkdir()
    target = elsewhere / layout.file_name(EXTRACT_DATE, 1)
    target.write_bytes(extract(sample_cases(1)))
    (drop / target.name).symlink_to(target)
    assert drop_folder.import_drop_folder(drop, settle_seconds=0) == []
    assert target.exists() and not (drop / "loaded").exists()


def test_a_drop_folder_anyone_can_write_to_is_refused(tmp_path, settings):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / layout.file_name(EXTRACT_DATE, 1)).write_bytes(extract(sample_cases(1)))
    drop.chmod(0o777)
    with pytest.raises(drop_folder.UnsafeDropFolder):
        drop_folder.import_drop_folder(drop, settle_seconds=0)
    settings.EXTRACT_DROP_DIR = drop
    code, out = run_command("--drop-folder")
    assert code == 2
    assert not ExtractImport.objects.exists()


def test_drop_folder_command(tmp_path, settings):
    settings.EXTRACT_DROP_DIR = tmp_path
    settings.EXTRACT_DROP_SETTLE_SECONDS = 0
    (tmp_path / layout.file_name(EXTRACT_DATE, 1)).write_bytes(extract(sample_cases(2)))
    code, out = run_command("--drop-folder", "--json")
    assert code == 0 and json.loads(out)["applied"] == 2
    code, out = run_command("--drop-folder")
    assert (code, out.strip()) == (0, "nothing to load")


def test_header_only_is_read_before_the_sequence_decision(write_file):
    # A file far ahead is refused on its header, without reading (or hashing) the rest.
    data = header(sequence=5) + b"\r\n" + b"\xff" * 100
    result = importer.import_file(write_file(data, sequence=5))
    assert (result.outcome, result.reason) == ("rejected", "sequence 000005 is not the next expected (000001)")


# --- bigger files, batch boundaries, the bulk path's fall-back, the lock ------------------------


def test_many_batches_with_bad_records_and_repeats(tmp_path, method, monkeypatch):
    from penaltypay.extract import generator, parser

    monkeypatch.setattr(parser, "CHUNK_BYTES", 5000)  # ~33 records a batch: many batch boundaries
    first = generator.generate(tmp_path, 1200, extract_date=EXTRACT_DATE, bad_share=0.03, seed=4)
    second = generator.generate(
        tmp_path,
        1200,
        sequence=2,
        extract_date=EXTRACT_DATE + timedelta(days=1),
        bad_share=0.03,
        seed=5,
        first_index=600,
    )
    expected, bad_lines = {}, {}
    for made in (first, second):
        with open(made.path, "rb") as stream:
            reader = ExtractReader(stream)
            reader.header()
            for start, lines in reader.batches():
                for line_no, line in enumerate(lines, start):
                    fields = parser.parse_detail(line)
                    if fields is None:
                        bad_lines.setdefault(made.path.name, []).append((line_no, *parser.explain_detail(line)))
                    else:
                        expected[fields[0].decode()] = parser.fields_to_case(fields)
    results = importer.import_files([second.path, first.path])
    assert [(r.sequence, r.outcome, r.read, r.rejected) for r in results] == [
        (1, "applied", 1200, first.bad),
        (2, "applied", 1200, second.bad),
    ]
    assert store() == expected
    for result in results:
        issues = list(
            ExtractRecordIssue.objects.filter(run_id=result.run_id)
            .order_by("line")
            .values_list("line", "field", "reason")
        )
        assert issues == bad_lines[result.file]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the bulk COPY path is PostgreSQL's")
def test_bulk_copy_falls_back_to_the_merge_when_a_case_appears_meanwhile(write_file, settings, monkeypatch):
    settings.EXTRACT_BULK_MIN_RECORDS = 0
    stored = open_case(reference="40000002", vrm="LOOKUP1")
    CaseRecord.objects.create(reference=stored.reference, **CaseRecord.fields_from_case(stored))
    # As if the look-up stored it just after the importer listed the store's cases.
    monkeypatch.setattr(postgres_load._Bitmap, "add", lambda self, reference: None)
    cases = sample_cases(3)
    result = importer.import_file(write_file(extract(cases)))
    assert (result.outcome, result.method, result.applied) == ("applied", "staged-merge", 3)
    assert store() == {case.reference: as_stored(case) for case in cases}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's advisory lock")
@pytest.mark.django_db(transaction=True)
def test_one_import_at_a_time(write_file):
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [importer.ADVISORY_LOCK_KEY])
        path = write_file(extract(sample_cases(1)))
        with pytest.raises(importer.ImportBusy):
            importer.import_file(path)
        assert run_command(str(path))[0] == 2
        other.execute("SELECT pg_advisory_unlock(%s)", [importer.ADVISORY_LOCK_KEY])
    assert importer.import_file(path).outcome == "applied"


def test_conflicts_in_the_json_output(write_file):
    paid("40000001", authorised_at=CUT + timedelta(hours=1))
    code, out = run_command(str(write_file(extract(sample_cases(2)))), "--json")
    line = json.loads(out)
    assert (code, line["applied"], line["conflicts"]) == (0, 1, 1)
    assert line["conflict_records"] == [{"line": 2, "reference": "40000001", "reason": rules.CONFLICT_REASON}]


def test_first_sequence_with_several_files_and_a_misnamed_one(write_file):
    paths = [write_file(extract(sample_cases(1), n), sequence=n) for n in (41, 42)]
    paths.append(write_file(b"junk", name="readme.txt"))
    results = importer.import_files(paths, first_sequence=41)
    assert [(r.file, r.outcome) for r in results] == [
        ("readme.txt", "rejected"),
        ("ECS_EXTRACT_20261124_000041.DAT", "applied"),
        ("ECS_EXTRACT_20261124_000042.DAT", "applied"),
    ]
