"""Operators see every run and download rejected records as CSV; the operator token rule applies."""

from __future__ import annotations

import csv
import io

import pytest

from penaltypay.extract import importer, layout
from tests.extract.conftest import EXTRACT_DATE, build, details_of, sample_cases

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(write_file):
    good = details_of(sample_cases(3))
    bad = [good[0], good[1][:-1], good[2][:1] + b"=1+1    " + good[2][9:]]
    applied = importer.import_file(write_file(build(bad)))
    rejected = importer.import_file(write_file(layout.format_file(EXTRACT_DATE, 5, sample_cases(1)), sequence=5))
    return applied, rejected


def test_runs_as_json(client, runs):
    applied, rejected = runs
    body = client.get("/ops/extract-imports").json()
    assert body["next_expected_sequence"] == 2
    by_id = {run["id"]: run for run in body["runs"]}
    expected = {
        "file": "ECS_EXTRACT_20261124_000001.DAT",
        "sequence": 1,
        "extract_date": "2026-11-24",
        "outcome": "applied",
        "read": 3,
        "applied": 1,
        "rejected": 2,
        "conflicts": 0,
        "rejected_csv": f"/ops/extract-imports/{applied.run_id}/rejected.csv",
    }
    assert {key: by_id[applied.run_id][key] for key in expected} == expected
    assert by_id[applied.run_id]["seconds"] >= 0 and by_id[applied.run_id]["finished_at"]
    assert by_id[rejected.run_id]["reason"] == "sequence 000005 is not the next expected (000002)"
    assert [r["id"] for r in client.get("/ops/extract-imports?outcome=rejected").json()["runs"]] == [rejected.run_id]
    assert client.get(f"/ops/extract-imports/{applied.run_id}").json()["outcome"] == "applied"


def test_runs_as_html(client, runs):
    response = client.get("/ops/extract-imports?format=html")
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "ECS_EXTRACT_20261124_000001.DAT" in page and "sequence 000005 is not the next expected" in page
    assert "Next expected sequence: 000002" in page


def test_rejected_records_as_csv(client, runs):
    applied, _ = runs
    response = client.get(f"/ops/extract-imports/{applied.run_id}/rejected.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="ECS_EXTRACT_20261124_000001-rejected.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["line", "reference", "field", "reason"],
        ["3", "40000002", "record", "record is 149 characters, expected 150"],
        ["4", "'=1+1", "reference", "case reference is not 8 digits"],  # never a formula in a spreadsheet
    ]
    conflicts = client.get(f"/ops/extract-imports/{applied.run_id}/conflicts.csv")
    assert b"".join(conflicts.streaming_content) == b"line,reference,field,reason\r\n"
    assert client.get(f"/ops/extract-imports/{applied.run_id}/other.csv").status_code == 404
    assert client.get("/ops/extract-imports/999999/rejected.csv").status_code == 404


def test_operator_token_required_when_set(client, runs, settings):
    applied, _ = runs
    settings.OPS_API_TOKEN = "s3cret-token"
    urls = [
        "/ops/extract-imports",
        f"/ops/extract-imports/{applied.run_id}",
        f"/ops/extract-imports/{applied.run_id}/rejected.csv",
        "/ops/extract-imports?format=html",
    ]
    for url in urls:
        assert client.get(url).status_code == 403
        assert client.get(url, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
        assert client.get(url, HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


def test_closed_in_production_without_a_token(client, settings):
    settings.OPS_API_TOKEN = ""
    settings.PRODUCTION = True
    assert client.get("/ops/extract-imports").status_code == 403


def test_get_only(client):
    assert client.post("/ops/extract-imports").status_code == 405
