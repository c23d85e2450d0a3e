"""`penaltypay generate-extract`: valid files of any size, a realistic mix, bad records on request."""

from __future__ import annotations

import collections
from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from penaltypay.extract import (
    generator,
    importer,
    parser,
)
from penaltypay.extract.reader import ExtractReader
from tests.extract.conftest import EXTRACT_DATE


def read(path):
    with open(path, "rb") as stream:
        reader = ExtractReader(stream)
        head = parser.parse_header(reader.header())
        good, bad, total = [], [], 0
        for first, lines in reader.batches():
            for _n, line in enumerate(lines, first):
                fields = parser.parse_detail(line)
                total += parser.penalty_of(line)
                (good.append(parser.fields_to_case(fields)) if fields else bad.append(parser.explain_detail(line)))
        parser.check_trailer(parser.parse_trailer(reader.trailer), reader.detail_count, total)
    return head, good, bad


def test_a_generated_file_is_valid_and_realistic(tmp_path):
    made = generator.generate(tmp_path, 3000, sequence=7, extract_date=EXTRACT_DATE, seed=3)
    assert made.path.name == "ECS_EXTRACT_20261124_000007.DAT"
    head, cases, bad = read(made.path)
    assert head == parser.Header(EXTRACT_DATE, 7) and bad == [] and len(cases) == 3000
    assert len({case.reference for case in cases}) == 3000
    types = collections.Counter(case.case_type for case in cases)
    assert {"7A", "29KK", "144A"} <= set(types) and types["7A"] > types["29KK"]
    statuses = collections.Counter(case.status for case in cases)
    assert set(statuses) == {"OPEN", "PART_PAID", "PAID", "DEBT_RECOVERY", "COURT", "NO_PAYMENT_REQUIRED"}
    assert all(case.issue_date <= EXTRACT_DATE for case in cases)
    kk = [case for case in cases if case.case_type == "29KK"]
    assert all(case.arrears_pence > 0 and case.arrears_from <= case.arrears_to for case in kk)
    assert all(case.reduction_deadline is None for case in kk)
    assert {case.penalty_pence for case in cases if case.case_type == "144A"} == {10000}


def test_bad_records_on_request(tmp_path):
    made = generator.generate(tmp_path, 2000, extract_date=EXTRACT_DATE, bad_share=0.05, seed=1)
    _, cases, bad = read(made.path)
    assert len(bad) == made.bad and 60 < made.bad < 140 and len(cases) + len(bad) == 2000
    assert {field for field, _ in bad} == {
        "reference",
        "issue_date",
        "reduced_penalty_pence",
        "reduction_deadline",
        "status",
        "record",
        "vrm",
        "arrears_to",
    }


def test_same_seed_same_file_and_overlapping_ranges_share_references(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = generator.generate(tmp_path / "a", 100, extract_date=EXTRACT_DATE)
    b = generator.generate(tmp_path / "b", 100, extract_date=EXTRACT_DATE)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert (
        generator.reference_for(150)
        in generator.generate(tmp_path, 100, sequence=2, extract_date=EXTRACT_DATE, first_index=100).path.read_bytes()
    )


@pytest.mark.django_db
def test_command_writes_a_file_the_importer_loads(tmp_path):
    out = StringIO()
    call_command(
        "generate_extract",
        "--count",
        "500",
        "--date",
        "20261124",
        "--bad-share",
        "0.02",
        "--seed",
        "9",
        "--out",
        str(tmp_path),
        stdout=out,
    )
    assert "ECS_EXTRACT_20261124_000001.DAT: 500 records" in out.getvalue()
    result = importer.import_file(tmp_path / "ECS_EXTRACT_20261124_000001.DAT")
    assert result.outcome == "applied" and result.read == 500 and result.rejected > 0
    assert result.applied + result.rejected == 500


def test_defaults_to_today(tmp_path):
    made = generator.generate(tmp_path, 1)
    assert made.path.name.startswith(f"ECS_EXTRACT_{date.today():%Y%m%d}_")
