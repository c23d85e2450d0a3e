"""The restore drill: back up the database as production would (`pg_dump -Fc`), restore it
into a scratch database, check the copy (`penaltypay check-integrity` against it), time
each step, and drop the scratch database. A backup is only as good as its last restore."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connection


class DrillRefused(Exception):
    pass


@dataclass
class DrillResult:
    database: str
    scratch: str
    dump_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    integrity: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.integrity.get("ok"))

    def as_json(self) -> dict:
        return {
            "ok": self.ok,
            "database": self.database,
            "dump_bytes": self.dump_bytes,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "integrity": self.integrity,
        }


def _url(config: Mapping[str, Any], name: str) -> str:
    auth = quote(config.get("USER") or "", safe="")
    if config.get("PASSWORD"):
        auth += ":" + quote(config["PASSWORD"], safe="")
    host = config.get("HOST") or "localhost"
    port = config.get("PORT") or 5432
    return f"postgresql://{auth}@{host}:{port}/{quote(name, safe='')}"


def _admin(config: Mapping[str, Any], sql: str) -> None:
    with psycopg.connect(_url(config, "postgres"), autocommit=True) as admin:
        admin.execute(sql)


def run_drill(keep: bool = False) -> DrillResult:
    if connection.vendor != "postgresql":
        raise DrillRefused("the restore drill needs PostgreSQL (DATABASE_URL=postgres://…)")
    config = settings.DATABASES["default"]
    scratch = f"{config['NAME']}_restore_drill_{os.getpid()}"
    result = DrillResult(database=config["NAME"], scratch=scratch)
    with tempfile.TemporaryDirectory() as folder:
        dump = Path(folder) / "penaltypay.dump"
        started = time.monotonic()
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", _url(config, config["NAME"])],
            check=True,
            capture_output=True,
        )
        result.seconds["dump"] = time.monotonic() - started
        result.dump_bytes = dump.stat().st_size
        _admin(config, f'DROP DATABASE IF EXISTS "{scratch}"')
        _admin(config, f'CREATE DATABASE "{scratch}"')
        try:
            started = time.monotonic()
            subprocess.run(
                ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={_url(config, scratch)}", str(dump)],
                check=True,
                capture_output=True,
            )
            result.seconds["restore"] = time.monotonic() - started
            started = time.monotonic()
            checked = subprocess.run(
                [sys.executable, "-m", "penaltypay.cli", "check-integrity", "--json"],
                env={**os.environ, "DATABASE_URL": _url(config, scratch)},
                capture_output=True,
                text=True,
            )
            result.seconds["check"] = time.monotonic() - started
            result.integrity = json.loads(checked.stdout or "{}")
        finally:
            if not keep:
                _admin(config, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return result
