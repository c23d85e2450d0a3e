"""Two database roles (docs/runbook.md "Database roles", ADR 0017): the schema's owner runs
`penaltypay migrate`; the application's role — web, worker, every command the service runs
day to day — has only the rows it needs. It cannot TRUNCATE, ALTER or drop anything, or
control a trigger, and on `audit_entry` it may only add rows and make the one change the
trigger allows (the address column).

`grant_to_app_role` runs at the end of every migrate (the owner's connection) when
DATABASE_APP_ROLE names the application's role, so tables added by a release are granted
with it. `role_problem` is what production checks before it starts."""

from __future__ import annotations

import logging

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger("penaltypay.operations")

# Tables the application reads but never writes.
READ_ONLY = ("django_migrations",)


def grant_to_app_role(connection: BaseDatabaseWrapper, role: str) -> None:
    if connection.vendor != "postgresql" or not role:
        return
    quoted = connection.ops.quote_name(role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {quoted}",
        # The extract's staging table alone: emptied after each import (migration extract/0002).
        f"GRANT TRUNCATE ON extract_stage TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        # The audit log: add and read; the one column the retention change touches.
        f"REVOKE UPDATE, DELETE ON audit_entry FROM {quoted}",
        f"GRANT UPDATE (address) ON audit_entry TO {quoted}",
        f"REVOKE ALL ON audit_policy FROM {quoted}",
    ]
    statements += [f"REVOKE INSERT, UPDATE, DELETE ON {table} FROM {quoted}" for table in READ_ONLY]
    # TEMPORARY: new installs never grant it (deploy/postgres/roles.sql). An existing one keeps
    # it for this release, whose predecessor's extract import still stages in a temporary
    # table while the rollout runs; the next release revokes it here (expand, then contract:
    # CHANGELOG). The audit trigger no longer reads anything a temporary table could shadow.
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def role_problem(connection: BaseDatabaseWrapper) -> str | None:
    """Why this connection's role must not run the service, or None."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, r.rolsuper, pg_get_userbyid(c.relowner) = current_user "
            "FROM pg_roles r LEFT JOIN pg_class c ON c.relname = 'audit_entry' AND c.relkind = 'r' "
            "WHERE r.rolname = current_user"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    user, superuser, owner = row
    if superuser:
        return f"the database role {user} is a superuser: run the service as the application's role"
    if owner:
        return f"the database role {user} owns the schema: run the service as the application's role, not the owner"
    return None


def problem_at_start(connection: BaseDatabaseWrapper) -> str | None:
    """`role_problem` for a process starting up. A database that does not answer yet is
    not a reason to refuse (readiness reports it; the worker retries): it is checked when
    it answers."""
    try:
        return role_problem(connection)
    except OperationalError:
        log.warning("database role not checked at start: the database is not answering")
        return None
    finally:
        connection.close()
