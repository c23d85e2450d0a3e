"""Emptying the test database after each transactional test, quickly.

Django empties it with a flush: on PostgreSQL one `TRUNCATE` of every table, which makes
PostgreSQL create new files for each table and index and sync them (about 0.6 s a test on
the CI machine, for more than 400 transactional tests); then it writes its content types
and permissions again (post_migrate). Here:

- on PostgreSQL, `DELETE` empties the tables (they hold a few rows each by then) in
  milliseconds; Django's foreign keys there are checked at commit (DEFERRABLE INITIALLY
  DEFERRED), so the order does not matter. The append-only audit table refuses `DELETE`
  (its trigger): it is truncated, and only when it holds something;
- on both databases Django's content types and permissions are kept: they are written
  again after every flush exactly as they were, so keeping them turns a hundred inserts
  into a look-up.

About 0.1 s a test instead of 0.6 s. Only the test suite does this (tests/conftest.py).
"""

from __future__ import annotations

from django.db.backends.postgresql import base as postgresql
from django.db.backends.sqlite3 import base as sqlite

# Tables whose trigger refuses DELETE: emptied with TRUNCATE as Django does.
APPEND_ONLY = frozenset({"audit_entry"})
KEPT = frozenset({"django_content_type", "auth_permission"})

_postgresql_flush = postgresql.DatabaseOperations.sql_flush
_sqlite_flush = sqlite.DatabaseOperations.sql_flush


def postgresql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if reset_sequences or allow_cascade:
        return _postgresql_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    statements = []
    for table in tables:
        if table in KEPT:
            continue
        name = self.quote_name(table)
        if table in APPEND_ONLY:
            statements.append(f"DO $$ BEGIN IF EXISTS (SELECT FROM {name}) THEN TRUNCATE {name}; END IF; END $$;")
        else:
            statements.append(f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(name)};")
    return statements


def sqlite_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    if not reset_sequences:
        tables = [table for table in tables if table not in KEPT]
    return _sqlite_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)


def install() -> None:
    postgresql.DatabaseOperations.sql_flush = postgresql_flush
    sqlite.DatabaseOperations.sql_flush = sqlite_flush
