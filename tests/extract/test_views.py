"""Service support sees every run and downloads rejected records as CSV, signed in to the back office."""

from __future__ import annotations

import csv
import io

import pytest

from penaltypay.extract import importer
from tests.extract.conftest import EXTRACT_DATE, build, details_of, sample_cases
from tests.extract.files import format_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(write_file):
    good = details_of(sample_cases(3))
    bad = [good[0], good[1][:-1], good[2][:1] + b"=1+1    " + good[2][9:]]
    applied = importer.import_file(write_file(build(bad)))
    rejected = importer.import_file(write_file(format_file(EXTRACT_DATE, 5, sample_cases(1)), sequence=5))
    return applied, rejected


@pytest.fixture
def support(staff_client):
    from penaltypay.staff.roles import Role

    return staff_client(Role.SUPPORT)


def test_every_run_is_listed_with_its_figures(support, runs):
    applied, rejected = runs
    page = support.get("/staff/extract-imports").content.decode()
    assert "ECS_EXTRACT_20261124_000001.DAT" in page and "Next expected sequence: 000002" in page
    assert f'href="/staff/extract-imports/{applied.run_id}"' in page
    only_rejected = support.get("/staff/extract-imports?outcome=rejected").content.decode()
    assert f'href="/staff/extract-imports/{rejected.run_id}"' in only_rejected
    assert f'href="/staff/extract-imports/{applied.run_id}"' not in only_rejected


def test_a_run_page_says_why_and_links_its_records(support, runs):
    applied, rejected = runs
    page = support.get(f"/staff/extract-imports/{rejected.run_id}").content.decode()
    assert "sequence 000005 is not the next expected (000002)" in page
    page = support.get(f"/staff/extract-imports/{applied.run_id}").content.decode()
    assert f"/staff/extract-imports/{applied.run_id}/rejected.csv" in page
    assert support.get("/staff/extract-imports/999999").status_code == 404


def test_rejected_records_as_csv(support, runs):
    applied, _ = runs
    response = support.get(f"/staff/extract-imports/{applied.run_id}/rejected.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ECS_EXTRACT_20261124_000001-rejected.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["line", "reference", "field", "reason"],
        ["3", "40000002", "record", "record is 149 characters, expected 150"],
        ["4", "'=1+1", "reference", "case reference is not 8 digits"],  # never a formula in a spreadsheet
    ]
    conflicts = support.get(f"/staff/extract-imports/{applied.run_id}/conflicts.csv")
    assert b"".join(conflicts.streaming_content) == b"line,reference,field,reason\r\n"
    assert support.get(f"/staff/extract-imports/{applied.run_id}/other.csv").status_code == 404
    assert support.get("/staff/extract-imports/999999/rejected.csv").status_code == 404


def test_the_old_operator_pages_are_gone(client, runs):
    assert client.get("/ops/extract-imports").status_code == 404
    assert client.get("/ops/outbox").status_code == 404
