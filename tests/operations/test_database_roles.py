"""The two database roles, made as the runbook says (deploy/postgres/roles.sql through the
compose init script), on the local PostgreSQL: the owner migrates; the application's role
runs the service and cannot TRUNCATE, ALTER, drop, disable the audit trigger or rewrite a
fresh audit address — yet the nightly purge and every worker job run as it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

ROOT = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("PG_SERVER_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SECRET = "roles-test-" + "k7Vq2mX9pL4wR8tN1yB6cF3hJ5dS0gZa"

pytestmark = [
    pytest.mark.postgres,  # the PostgreSQL pass runs it (it has no database fixture of its own)
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="database roles are PostgreSQL's"
    ),
]


def url(role: str, database: str) -> str:
    return f"postgres://{role}:pw-{role}@127.0.0.1:5432/{database}"


@pytest.fixture(scope="module")
def roles():
    suffix = uuid.uuid4().hex[:8]
    names = {"owner": f"pp_owner_{suffix}", "app": f"pp_app_{suffix}", "database": f"pp_roles_{suffix}"}
    env = {
        **os.environ,
        "POSTGRES_USER": "postgres",
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PENALTYPAY_DB_OWNER": names["owner"],
        "PENALTYPAY_DB_APP": names["app"],
        "PENALTYPAY_DB_NAME": names["database"],
        "PENALTYPAY_OWNER_PASSWORD": f"pw-{names['owner']}",
        "PENALTYPAY_APP_PASSWORD": f"pw-{names['app']}",
        "PENALTYPAY_ROLES_SQL": str(ROOT / "deploy/postgres/roles.sql"),
    }
    made = subprocess.run(["sh", str(ROOT / "deploy/postgres/init-roles.sh")], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    migrated = penaltypay("migrate", "--noinput", as_role=names["owner"], names=names, DATABASE_APP_ROLE=names["app"])
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    yield names
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {names['database']} WITH (FORCE)")
        admin.execute(f"DROP ROLE IF EXISTS {names['app']}")
        admin.execute(f"DROP ROLE IF EXISTS {names['owner']}")


def penaltypay(*argv: str, as_role: str, names: dict, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST")}
    env.update(
        PENALTYPAY_ENV="test",
        DATABASE_URL=url(as_role, names["database"]),
        SECRET_KEY=SECRET,
        RETENTION_AUDIT_ADDRESS_DAYS="90",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-m", "penaltypay.cli", *argv], env=env, capture_output=True, text=True, timeout=300
    )


def as_app(names: dict) -> psycopg.Connection:
    return psycopg.connect(url(names["app"], names["database"]), autocommit=True)


def add_audit_row(conn: psycopg.Connection, address: str, age_days: int) -> int:
    return conn.execute(
        "INSERT INTO audit_entry (at, actor, actor_kind, action, object_type, object_id, address, outcome, detail) "
        "VALUES (now() - make_interval(days => %s), 'a.person', 'staff', 'sign-in', '', '', %s, 'success', '') "
        "RETURNING id",
        [age_days, address],
    ).fetchone()[0]


def refused(conn: psycopg.Connection, sql: str, params=None) -> bool:
    try:
        conn.execute(sql, params)
    except (errors.InsufficientPrivilege, errors.RaiseException):
        return True
    return False


def expected_hash(address: str) -> str:
    import hashlib
    import hmac

    key = hmac.new(SECRET.encode(), b"penaltypay audit address hash v1", hashlib.sha256).digest()
    return "h:" + hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:24]


def test_the_app_role_cannot_change_the_schema_or_the_audit_log(roles):
    with as_app(roles) as conn:
        fresh = add_audit_row(conn, "192.0.2.10", age_days=0)  # adding is what it may do
        old = add_audit_row(conn, "192.0.2.11", age_days=100)
        assert refused(conn, "TRUNCATE audit_entry")
        assert refused(conn, "TRUNCATE payment")
        assert refused(conn, "ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only")
        assert refused(conn, "DROP TRIGGER audit_entry_append_only ON audit_entry")
        assert refused(conn, "ALTER TABLE payment ADD COLUMN x integer")
        assert refused(conn, "DROP TABLE payment")
        assert refused(conn, "CREATE TABLE mine (id integer)")
        assert refused(conn, "DELETE FROM audit_entry")
        assert refused(conn, "UPDATE audit_entry SET actor = 'someone else'")
        assert refused(conn, "SELECT * FROM audit_policy")
        assert refused(conn, "UPDATE audit_policy SET address_days = 1")
        assert refused(conn, "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())")
        assert refused(
            conn,
            "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        )
        # The one change: an old address, by its own keyed hash. Not a fresh one, not anything else.
        assert refused(conn, "UPDATE audit_entry SET address = %s WHERE id = %s", [expected_hash("192.0.2.10"), fresh])
        assert refused(conn, "UPDATE audit_entry SET address = 'h:000000000000000000000000' WHERE id = %s", [old])
        assert refused(conn, "UPDATE audit_entry SET address = '' WHERE id = %s", [old])
        assert refused(conn, "UPDATE audit_entry SET address = %s WHERE id = %s", [expected_hash("192.0.2.99"), old])
        conn.execute("UPDATE audit_entry SET address = %s WHERE id = %s", [expected_hash("192.0.2.11"), old])
        assert refused(conn, "UPDATE audit_entry SET address = %s WHERE id = %s", [expected_hash("192.0.2.11"), old])
        # Its everyday rows it has.
        conn.execute("INSERT INTO job_lock (name, holder) VALUES ('roles-test', '')")
        conn.execute("DELETE FROM job_lock WHERE name = 'roles-test'")


def test_a_temporary_table_cannot_stand_in_for_the_audit_policy(roles):
    """The attack a security review found: the trigger's function runs with its owner's
    rights, and PostgreSQL looks in the session's temporary schema first for a table its
    search path does not rule out, so a table of the caller's own could supply the key and
    the age. The app role may make no temporary table at all; and were TEMPORARY granted
    again by mistake, the trigger still reads only its owner's policy."""
    import hashlib
    import hmac

    with as_app(roles) as conn:
        assert refused(conn, "CREATE TEMP TABLE audit_policy (id integer, address_days integer, hash_key bytea)")
    with psycopg.connect(SERVER.rsplit("/", 1)[0] + "/" + roles["database"], autocommit=True) as admin:
        admin.execute(f"GRANT TEMPORARY ON DATABASE {roles['database']} TO {roles['app']}")
    try:
        key = b"an attacker's key"
        with as_app(roles) as conn:
            fresh = add_audit_row(conn, "192.0.2.50", age_days=0)
            conn.execute("CREATE TEMP TABLE audit_policy (id integer, address_days integer, hash_key bytea)")
            conn.execute("INSERT INTO pg_temp.audit_policy VALUES (1, -1, %s)", [key])
            conn.execute("GRANT SELECT ON pg_temp.audit_policy TO PUBLIC")  # so the trigger's owner may read it
            forged = "h:" + hmac.new(key, b"192.0.2.50", hashlib.sha256).hexdigest()[:24]
            assert refused(conn, "UPDATE audit_entry SET address = %s WHERE id = %s", [forged, fresh])
            kept = conn.execute("SELECT address FROM audit_entry WHERE id = %s", [fresh]).fetchone()[0]
        assert kept == "192.0.2.50"
    finally:
        with psycopg.connect(SERVER.rsplit("/", 1)[0] + "/" + roles["database"], autocommit=True) as admin:
            admin.execute(f"REVOKE TEMPORARY ON DATABASE {roles['database']} FROM {roles['app']}")


def test_the_purge_and_every_worker_job_run_as_the_app_role(roles, sim, sandbox, tmp_path):
    with as_app(roles) as conn:
        conn.execute("DELETE FROM purge_run")
        old = add_audit_row(conn, "198.51.100.7", age_days=120)
        fresh = add_audit_row(conn, "198.51.100.8", age_days=1)

    purged = penaltypay("purge", "--json", as_role=roles["app"], names=roles)
    assert purged.returncode == 0, purged.stderr[-3000:]
    assert json.loads(purged.stdout)["removed"]["audit_addresses"] >= 1
    with as_app(roles) as conn:
        addresses = dict(conn.execute("SELECT id, address FROM audit_entry WHERE id IN (%s, %s)", [old, fresh]))
    assert addresses == {old: expected_hash("198.51.100.7"), fresh: "198.51.100.8"}

    extract = penaltypay(
        "generate-extract", "--count", "300", "--out", str(tmp_path), as_role=roles["app"], names=roles
    )
    assert extract.returncode == 0, extract.stderr[-2000:]
    worker = penaltypay(
        "worker",
        "--once",
        as_role=roles["app"],
        names=roles,
        ECS_URL=sim.url,
        PAY_API_URL=sandbox.base_url,
        PAY_API_KEY="sandbox-api-key",
        ECS_RESPECT_BATCH_WINDOW="0",
        RECONCILE_AT="00:00",
        PURGE_AT="00:00",
        EXTRACT_DROP_DIR=str(tmp_path),
        EXTRACT_DROP_SETTLE_SECONDS="0",
        EXTRACT_BULK_MIN_RECORDS="1",  # the PostgreSQL bulk path: temporary tables, COPY
    )
    output = worker.stdout + worker.stderr
    assert worker.returncode == 0, output[-3000:]
    assert "permission denied" not in output and "InsufficientPrivilege" not in output, output[-3000:]
    with as_app(roles) as conn:
        assert conn.execute("SELECT count(*) FROM reconciliation_run").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM purge_run WHERE trigger = 'schedule'").fetchone()[0] == 1
        assert conn.execute("SELECT outcome, method FROM extract_import").fetchone() == ("applied", "bulk-copy")
