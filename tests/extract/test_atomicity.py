"""Atomicity on PostgreSQL: an import killed half way (the process, or its database
session as a database restart would) leaves the store as it was before the file;
running it again completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from penaltypay.cases.models import CaseRecord
from penaltypay.extract import layout
from penaltypay.extract.models import ExtractImport
from tests.extract.conftest import EXTRACT_DATE, as_stored, open_case, store
from tests.extract.files import format_file

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="kills a PostgreSQL session"),
]

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"staged-merge": "penaltypay.settings", "bulk-copy": "tests.extract.settings_bulk"}


def database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class Importer:
    """`penaltypay import-extract FILE --json` in its own process, on the test database."""

    def __init__(self, path: Path, method: str):
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "PENALTYPAY_ENV": "test",
            "DJANGO_SETTINGS_MODULE": SETTINGS[method],
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "penaltypay.cli", "import-extract", str(path), "--json"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, timeout=120):
        out, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, out


HOLD_KEY = 0x484F4C44  # an advisory lock this test holds while an import must wait


class HeldBeforeCommit:
    """Stops an import at its very last statement, all its work done and nothing committed:
    a trigger (on the test database only) makes the UPDATE that marks the run `applied`
    wait for an advisory lock this test holds. No hook in the product: the database
    itself is told to wait, as a slow or locked database would."""

    def __enter__(self):
        self.session = psycopg.connect(database_url(), autocommit=True)
        self.session.execute("SELECT pg_advisory_lock(%s)", [HOLD_KEY])
        self.session.execute(
            "CREATE OR REPLACE FUNCTION test_hold_import() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock({HOLD_KEY}); RETURN NEW; END $$"
        )
        self.session.execute(
            "CREATE TRIGGER test_hold_import BEFORE UPDATE ON extract_import FOR EACH ROW "
            "WHEN (NEW.outcome = 'applied') EXECUTE FUNCTION test_hold_import()"
        )
        return self

    def wait_until_held(self, timeout=60) -> int:
        """The importer's session pid, once it waits at the last statement."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.session.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND query ILIKE 'UPDATE%extract_import%'"
            ).fetchone()
            if row:
                return row[0]
            time.sleep(0.05)
        raise AssertionError("the import never reached its last statement")

    def __exit__(self, *exc):
        self.session.execute("DROP TRIGGER IF EXISTS test_hold_import ON extract_import")
        self.session.execute("SELECT pg_advisory_unlock(%s)", [HOLD_KEY])
        self.session.close()


def files(tmp_path):
    """Seed the store, and a file that updates some of its cases and adds others."""
    seeded = [open_case(reference=f"6000{n:04d}", vrm=f"OLD{n}") for n in range(50)]
    for case in seeded:
        CaseRecord.objects.create(reference=case.reference, **CaseRecord.fields_from_case(case))
    cases = [
        open_case(reference=f"6000{n:04d}", vrm=f"NEW{n}", status="PAID", amount_paid_pence=4000)
        for n in range(0, 1500, 3)
    ]
    path = tmp_path / layout.file_name(EXTRACT_DATE, 1)
    path.write_bytes(format_file(EXTRACT_DATE, 1, cases))
    expected = {case.reference: case for case in seeded}
    expected.update({case.reference: as_stored(case) for case in cases})
    return path, expected


@pytest.mark.parametrize("method", ["staged-merge", "bulk-copy"])
def test_killed_before_commit_leaves_the_store_unchanged_and_a_rerun_completes(tmp_path, method):
    path, expected = files(tmp_path)
    before = store()
    with HeldBeforeCommit() as hold:
        importer = Importer(path, method)
        hold.wait_until_held()
        assert store() == before  # the work is done but not committed
        os.kill(importer.process.pid, signal.SIGKILL)
        code, _ = importer.finish()
    assert code == -signal.SIGKILL
    assert store() == before
    assert list(ExtractImport.objects.values_list("outcome", flat=True)) == ["running"]

    code, out = Importer(path, method).finish()
    assert code == 0, out
    result = json.loads(out)
    assert (result["outcome"], result["applied"], result["method"]) == ("applied", 500, method)
    assert store() == expected
    assert sorted(ExtractImport.objects.values_list("outcome", flat=True)) == ["applied", "interrupted"]


@pytest.mark.parametrize("method", ["staged-merge", "bulk-copy"])
def test_database_session_lost_before_commit_leaves_the_store_unchanged(tmp_path, method):
    path, expected = files(tmp_path)
    before = store()
    with HeldBeforeCommit() as hold:
        importer = Importer(path, method)
        pid = hold.wait_until_held()
        with connection.cursor() as cursor:  # as a database restart would
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            assert cursor.fetchall() == [(True,)]
        code, out = importer.finish()
    assert code != 0
    assert store() == before
    assert ExtractImport.objects.get().outcome in ("failed", "running")

    code, out = Importer(path, method).finish()
    assert code == 0, out
    assert json.loads(out)["outcome"] == "applied"
    assert store() == expected
