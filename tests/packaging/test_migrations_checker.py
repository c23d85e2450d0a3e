"""`make check-migrations` (part of `make test`): a migration the previous release could not
run against fails, naming it and why; a reviewed exception, listed with its reason, passes.
Runs django-migration-linter on the SQL PostgreSQL would run (ADR 0028)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REVIEWED = ROOT / "docs" / "migrations-reviewed.txt"

pytestmark = [pytest.mark.postgres]


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/check-migrations", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_migration_in_the_tree_is_safe_for_the_release_before_it_or_reviewed():
    done = check()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "migrations linted" in done.stdout


def test_a_not_null_column_the_previous_release_does_not_write_fails_the_check():
    done = check("--also-app", "tests.packaging.migration_samples")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "(migration_samples, 0002_add_a_column_the_old_release_does_not_write)... ERR" in done.stdout
    assert "NOT NULL" in done.stdout
    assert "0003_expand_safely" not in done.stdout  # nullable, or with a database default: fine


def test_dropping_a_column_the_previous_release_reads_fails_the_check_naming_the_column():
    done = check("--also-app", "tests.packaging.migration_samples")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "(migration_samples, 0004_drop_a_column_the_old_release_reads)... ERR" in done.stdout
    assert "DROPPING columns (table: migration_samples_sample, column: kept)" in done.stdout


def test_a_reviewed_exception_with_its_reason_passes(tmp_path):
    reviewed = tmp_path / "reviewed.txt"
    reviewed.write_text(
        REVIEWED.read_text()
        + "migration_samples 0002_add_a_column_the_old_release_does_not_write  # reviewed: no release reads it\n"
        + "migration_samples 0004_drop_a_column_the_old_release_reads  # reviewed: no release has read it since 1.2\n"
    )
    done = check("--also-app", "tests.packaging.migration_samples", "--reviewed", str(reviewed))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_an_exception_without_a_reason_or_for_no_migration_is_refused(tmp_path):
    no_reason = tmp_path / "no-reason.txt"
    no_reason.write_text("payments 0002_payment_created_by\n")
    assert "why it is safe" in check("--reviewed", str(no_reason)).stderr
    stale = tmp_path / "stale.txt"
    stale.write_text(REVIEWED.read_text() + "payments 9999_gone  # was reviewed\n")
    done = check("--reviewed", str(stale))
    assert done.returncode == 1 and "no such migration" in done.stdout
