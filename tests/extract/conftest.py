"""Helpers for the extract tests: build files record by record, and run the importer
by each of its methods on the database under test."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from django.db import connection

from penaltypay.cases.domain import OPEN
from penaltypay.cases.models import CaseRecord
from penaltypay.extract import layout, parser
from tests.factories import late_licensing_case, out_of_court_case

EXTRACT_DATE = date(2026, 11, 24)
CRLF = b"\r\n"


def header(extract_date: date = EXTRACT_DATE, sequence: int = 1) -> bytes:
    return layout.format_header(extract_date, sequence)


def trailer_for(details: list[bytes]) -> bytes:
    """A trailer that agrees with these detail records (count, and the penalty total
    the importer computes: columns 59-67 when they are 9 digits)."""
    return layout.format_trailer(len(details), sum(parser.penalty_of(line) for line in details))


def build(
    details: list[bytes],
    *,
    head: bytes | None = None,
    trailer: bytes | None = None,
    extract_date: date = EXTRACT_DATE,
    sequence: int = 1,
) -> bytes:
    head = header(extract_date, sequence) if head is None else head
    trailer = trailer_for(details) if trailer is None else trailer
    return b"".join(record + CRLF for record in [head, *details, trailer])


def sample_cases(n: int = 3, first_reference: int = 40000001) -> list:
    """n valid, varied cases: 7A with reduction, 29KK with arrears, 144A part paid, ..."""
    cases = []
    for i in range(n):
        reference = f"{first_reference + i:08d}"
        if i % 3 == 0:
            case = late_licensing_case(reference=reference, vrm=f"AB{i % 90 + 10}CDE")
        elif i % 3 == 1:
            case = out_of_court_case(reference=reference, vrm=f"KX{i % 90 + 10}ABC")
        else:
            case = late_licensing_case(
                reference=reference,
                case_type="144A",
                vrm="T5",
                penalty_pence=10000,
                reduced_penalty_pence=5000,
                status="PART_PAID",
                amount_paid_pence=2000,
                vehicle_make="LAND ROVER",
                vehicle_colour="GREEN",
            )
        cases.append(case)
    return cases


def details_of(cases) -> list[bytes]:
    return [layout.format_detail(case) for case in cases]


@pytest.fixture
def write_file(tmp_path):
    """write_file(data, name=None) -> Path; the default name matches the header defaults."""

    def write(data: bytes, name: str | None = None, sequence: int = 1, extract_date: date = EXTRACT_DATE) -> Path:
        path = tmp_path / (name or layout.file_name(extract_date, sequence))
        path.write_bytes(data)
        return path

    return write


def store() -> dict:
    """The case store as {reference: domain Case}."""
    return {record.reference: record.to_case() for record in CaseRecord.objects.all()}


def as_stored(case):
    """What the store gives back for a case read from a file."""
    return replace(case, last_updated=None)


# Every method the importer has on this database: PostgreSQL staged merge and bulk
# COPY (chosen by file size: forced here), any other database the ORM.
METHODS = ["staged-merge", "bulk-copy"] if connection.vendor == "postgresql" else ["orm"]


@pytest.fixture(params=METHODS)
def method(request, settings):
    if request.param == "bulk-copy":
        settings.EXTRACT_BULK_MIN_RECORDS = 0
    elif request.param == "staged-merge":
        settings.EXTRACT_BULK_MIN_RECORDS = 10**9
    return request.param


def open_case(**overrides):
    return late_licensing_case(**{"status": OPEN, **overrides})
