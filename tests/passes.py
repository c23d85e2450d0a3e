"""How `make test` splits the suite into passes, and what each pass reports.

- `--database-tests-only` (the PostgreSQL pass): keeps the tests that use the database
  (a `db`, `transactional_db` or `live_server` fixture, or the `django_db` mark) and those
  marked `postgres`. The rest never touch a database, so they run once, in the SQLite
  pass, instead of twice.
- `--no-database-tests` (`make test-fast`): the others.
- `--no-postgres-only-tests` (the SQLite pass): leaves out the tests marked `postgres` that
  have no Django database (they talk to the local PostgreSQL themselves): the PostgreSQL
  pass runs them.
- `--measure-database-free-only` (the SQLite pass, under coverage): coverage is paused
  for the tests that use the database, which the PostgreSQL pass measures; each test's
  coverage is taken once.
- `--date-tests-only` (`make test-dates`): the tests that work with dates (the test
  `clock`, or a folder of calendar rules), for the shifted moments beyond the
  one the SQLite pass runs at.
- `PENALTYPAY_TEST_PASS=name`: at the end of the run one line goes to
  `var/test-passes.tsv` (name, seconds, passed, failed, skipped), which
  `scripts/test-report` prints as the table `make test` ends with.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest
from _pytest.nodeid import coerce_node_id

try:
    import coverage
except ImportError:  # a machine without the development tools
    coverage = None

DATABASE_FIXTURES = frozenset({"db", "transactional_db", "live_server"})
# What a test that moves through time asks for (the test clock) and where the calendar rules
# live: the other moments of `make test-dates` run these. (The test's `today` is asked for by
# almost every test that has a case, so it does not pick out the ones about dates.)
DATE_FIXTURES = frozenset({"clock"})
DATE_FOLDERS = (
    "tests/kernel/",
    "tests/cases/",
    "tests/reconciliation/",
    "tests/reporting/",
    "tests/operations/test_purge",
)
REPORT = Path(__file__).resolve().parents[1] / "var" / "test-passes.tsv"
_started = time.monotonic()


def works_with_dates(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & DATE_FIXTURES) or item.nodeid.startswith(DATE_FOLDERS)


def postgres_only(item: pytest.Item) -> bool:
    """Marked postgres, and no Django database of its own: it talks to the local PostgreSQL
    itself, whichever database the pass has (the probes, the database roles)."""
    names = set(getattr(item, "fixturenames", ()))
    return any(item.iter_markers("postgres")) and not (names & DATABASE_FIXTURES or any(item.iter_markers("django_db")))


def uses_database(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & DATABASE_FIXTURES) or any(item.iter_markers("django_db")) or any(item.iter_markers("postgres"))


def pytest_addoption(parser):
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="run only the tests that use the database or are marked postgres (the PostgreSQL pass)",
    )
    parser.addoption(
        "--measure-database-free-only",
        action="store_true",
        help="under coverage, measure only the tests that use no database (the SQLite pass: the "
        "PostgreSQL pass measures the others)",
    )
    parser.addoption(
        "--date-tests-only",
        action="store_true",
        help="run only the tests that work with dates (make test-dates: the other shifted moments)",
    )
    parser.addoption(
        "--no-postgres-only-tests",
        action="store_true",
        help="leave out the tests marked postgres that use no Django database (the SQLite pass: "
        "they run in the PostgreSQL pass)",
    )
    parser.addoption(
        "--no-database-tests",
        action="store_true",
        help="run only the tests that use no database (make test-fast)",
    )


def pytest_collection_modifyitems(config, items):
    _name_each_operation(items)
    keep = []
    if config.getoption("--database-tests-only"):
        keep.append(uses_database)
    if config.getoption("--no-database-tests"):
        keep.append(lambda item: not uses_database(item))
    if config.getoption("--no-postgres-only-tests"):
        keep.append(lambda item: not postgres_only(item))
    if config.getoption("--date-tests-only"):
        keep.append(works_with_dates)
    if not keep:
        return
    kept, dropped = [], []
    for item in items:
        (kept if all(rule(item) for rule in keep) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Each test's coverage is measured once: in the SQLite pass for the tests that use no
    database, in the PostgreSQL pass for the rest (measuring costs about half again)."""
    measured = coverage.Coverage.current() if coverage else None
    if measured is None or not item.config.getoption("--measure-database-free-only") or not uses_database(item):
        return (yield)
    measured.stop()
    try:
        return (yield)
    finally:
        measured.start()


def _name_each_operation(items):
    """schemathesis gives the tests it makes for each API operation one shared id; pytest-xdist
    schedules by id and would run one of them. The operation makes each id its own."""
    ids = Counter(item.nodeid for item in items)
    for item in items:
        label = getattr(item, "operation_label", None)
        if label and ids[item.nodeid] > 1:
            item._id = coerce_node_id(f"{item.nodeid}[{label}]")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    name = os.environ.get("PENALTYPAY_TEST_PASS")
    if not name or hasattr(config, "workerinput"):
        return
    stats = terminalreporter.stats

    def count(key: str) -> int:
        # A test counts once: its call, or the phase it failed or was skipped in.
        return len({report.nodeid for report in stats.get(key, []) if getattr(report, "nodeid", None)})

    row = [
        name,
        f"{time.monotonic() - _started:.0f}",
        str(count("passed")),
        str(count("failed") + count("error")),
        str(count("skipped")),
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as report:
        report.write("\t".join(row) + "\n")
