"""The probes answer where they run: the container's health check and Kubernetes' probes
call the pod over plain HTTP with its IP as Host. `penaltypay web` with production settings
answers them, and still redirects or refuses everything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import requests

from tests.infrastructure import free_port, start_web, stop_web
from tests.operations.test_production_settings import _CLEARED, SAFE_PRODUCTION_ENV

# The local PostgreSQL (a role, a database to be ready on): the PostgreSQL pass runs these.
pytestmark = pytest.mark.postgres

POD_IP = "10.42.7.19:8000"
PUBLIC_HOST = "pay-penalty.service.gov.uk"
SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
# Production refuses to run as a superuser or the schema's owner: an ordinary login role.
# One role per test process (pytest-xdist): one process dropping it must not pull it from another.
ROLE = "penaltypay_probe_test_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
AS_APP = f"postgres://{ROLE}@127.0.0.1:5432/postgres"
RELEASE = "2026.12.07+gabc1234"


def newest_migrations_on_disk() -> dict[str, str]:
    """Read from the migration files themselves, not through the service."""
    root = Path(__file__).resolve().parents[2] / "penaltypay"
    newest = {}
    for folder in root.glob("*/migrations"):
        names = sorted(p.stem for p in folder.glob("[0-9][0-9][0-9][0-9]_*.py"))
        if names:
            newest[folder.parent.name] = names[-1]
    return newest


@pytest.fixture(scope="module", autouse=True)
def ordinary_role():
    with psycopg.connect(SERVER, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone():
            admin.execute(f"CREATE ROLE {ROLE} LOGIN")
    yield
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f"DROP ROLE IF EXISTS {ROLE}")


@pytest.fixture
def production_web(tmp_path):
    """`penaltypay web` as the image runs it, connected as an ordinary role (the probes need
    no tables); `production_web(url)` starts one on that database."""
    started = []

    def start(database_url: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("PENALTYPAY_")}
        env.update(SAFE_PRODUCTION_ENV)
        env.pop("DATABASE_APP_ROLE", None)
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL="redis://127.0.0.1:6379/15",
            PENALTYPAY_VAR_DIR=str(tmp_path / f"var{len(started)}"),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"prometheus{len(started)}"),
            DATABASE_CONN_MAX_AGE="0",
            PENALTYPAY_RELEASE=RELEASE,  # as the image's build argument sets it
        )
        process, base = start_web(env, tmp_path / f"web{len(started)}.log")
        started.append(process)
        return base

    yield start
    for process in started:
        stop_web(process)


def get(base: str, path: str, host: str, **kwargs) -> requests.Response:
    return requests.get(f"{base}{path}", headers={"Host": host}, allow_redirects=False, timeout=20, **kwargs)


def test_the_probes_answer_a_pod_ip_over_plain_http(production_web):
    base = production_web(AS_APP)

    live = get(base, "/healthz", POD_IP)
    ready = get(base, "/readyz", POD_IP)

    # Alive, and which release and schema this pod runs: a rollout shows old and new side by side.
    assert (live.status_code, live.json()) == (
        200,
        {"status": "ok", "release": RELEASE, "schema": newest_migrations_on_disk()},
    )
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "up"})
    assert live.headers["Cache-Control"] == "no-store"
    # As the Containerfile's health check calls it: Host 127.0.0.1:8000.
    assert get(base, "/healthz", "127.0.0.1:8000").status_code == 200


def test_everything_else_keeps_the_redirect_and_the_host_check(production_web):
    base = production_web(AS_APP)

    assert get(base, "/", POD_IP).status_code == 400  # not an allowed host
    assert get(base, "/healthz/", POD_IP).status_code == 400  # only the probe paths themselves
    assert get(base, "/metrics", POD_IP).status_code == 400
    redirected = get(base, "/", PUBLIC_HOST)
    assert redirected.status_code == 301
    assert redirected.headers["Location"] == f"https://{PUBLIC_HOST}/"
    assert get(base, "/healthz", PUBLIC_HOST).status_code == 200  # the real name over HTTP too
    assert requests.post(f"{base}/healthz", headers={"Host": POD_IP}, timeout=20).status_code == 400


def test_readiness_fails_and_liveness_holds_when_the_database_is_away(production_web):
    base = production_web("postgres://postgres@127.0.0.1:1/penaltypay")  # nothing listens on port 1

    assert get(base, "/healthz", POD_IP).status_code == 200  # alive: do not restart it
    ready = get(base, "/readyz", POD_IP)
    assert (ready.status_code, ready.json()["database"]) == (503, "down")  # but send it no keepers


def test_production_will_not_start_as_a_superuser(production_web, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith("PENALTYPAY_")}
    env.update(SAFE_PRODUCTION_ENV, DATABASE_URL=SERVER, REDIS_URL="redis://127.0.0.1:6379/15")
    env.update(PENALTYPAY_VAR_DIR=str(tmp_path / "var"), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"))
    for command in (["web", "--bind", f"127.0.0.1:{free_port()}"], ["worker", "--once"]):
        result = subprocess.run(
            [sys.executable, "-m", "penaltypay.cli", *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode != 0, command
        assert "refusing to start: the database role postgres is a superuser" in result.stderr, result.stderr[-500:]


def test_penaltypay_version_names_the_release_and_the_schema_it_expects():
    env = {**os.environ, "PENALTYPAY_RELEASE": RELEASE}
    done = subprocess.run(
        [sys.executable, "-m", "penaltypay.cli", "--version"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, schema = done.stdout.splitlines()[:2]
    assert first == f"penaltypay {RELEASE}"  # not Django's version, as Django's own --version says
    assert f"payments {newest_migrations_on_disk()['payments']}" in schema
