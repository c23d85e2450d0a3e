"""The rate limits' and card-testing pauses' shared store when there is no Redis (the
embedded default, `make run`): a Django cache backend over one table of the service's own
database, which every gunicorn process and the worker share. Each operation is one atomic
statement (an upsert, or an UPDATE … RETURNING), so counts made at once by several
processes are never lost — a process's own memory (Django's local-memory cache) kept a
count per process, and a card-testing pause raised in one was not seen by the other.
Production keeps Redis (ADR 0026 has the choice and its measured cost)."""

from __future__ import annotations

import random
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.db import connection

TABLE = "shared_count"
FOREVER = 10.0**12  # "no expiry": far beyond any count's life
CULL_CHANCE = 0.01  # one add in a hundred also removes expired rows


class DatabaseCountsCache(BaseCache):
    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)

    def _expires(self, timeout: Any) -> float:
        at = self.get_backend_timeout(timeout)
        return FOREVER if at is None else float(at)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        name, now = self.make_and_validate_key(key, version=version), time.time()
        with connection.cursor() as cursor:
            if random.random() < CULL_CHANCE:  # noqa: S311 - housekeeping, not a secret
                cursor.execute(f"DELETE FROM {TABLE} WHERE expires <= %s", [now])
            cursor.execute(
                f"INSERT INTO {TABLE} (name, value, expires) VALUES (%s, %s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET value = excluded.value, expires = excluded.expires "
                f"WHERE {TABLE}.expires <= %s",
                [name, float(value), self._expires(timeout), now],
            )
            return cursor.rowcount == 1

    def add_and_count(self, key: Any, timeout: Any, by: int) -> int:
        """The rate limits' one operation in one statement: start the count (or a count whose
        time is up) at `by`, or add `by` to it; the new count."""
        name, now = self.make_and_validate_key(key), time.time()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (name, value, expires) VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                f"value = CASE WHEN {TABLE}.expires <= %s THEN excluded.value ELSE {TABLE}.value + excluded.value END, "
                f"expires = CASE WHEN {TABLE}.expires <= %s THEN excluded.expires ELSE {TABLE}.expires END "
                "RETURNING value",
                [name, float(by), self._expires(timeout), now, now],
            )
            row = cursor.fetchone()
        return int(row[0])

    def take_turn(self, key: Any, now: float, step: float, max_wait: float, ttl: float) -> tuple[bool, float]:
        """Pacing's one operation (penaltypay.web.pacing) in one statement: this caller's turn
        is max(next free, now); it is taken, and the next free turn moved `step` on, only if it
        comes within `max_wait`. (taken, next free turn)."""
        name = self.make_and_validate_key(key)
        larger = "GREATEST" if connection.vendor == "postgresql" else "MAX"  # SQLite's scalar max()
        turn = f"{larger}({TABLE}.value, %s)"
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (name, value, expires) VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE SET "
                f"value = {turn} + %s, expires = excluded.expires WHERE {turn} - %s <= %s RETURNING value",
                [name, now + step, now + ttl, now, step, now, now, max_wait],
            )
            row = cursor.fetchone()
            if row is not None:
                return True, float(row[0])
            cursor.execute(f"SELECT value FROM {TABLE} WHERE name = %s", [name])
            row = cursor.fetchone()
        return False, float(row[0]) if row is not None else now

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        name = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {TABLE} SET value = value + %s WHERE name = %s AND expires > %s RETURNING value",
                [delta, name, time.time()],
            )
            row = cursor.fetchone()
        if row is None:
            raise ValueError(f"Key '{key}' not found")
        return int(row[0])  # counts are whole numbers (marks are read with get)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        name = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT value FROM {TABLE} WHERE name = %s AND expires > %s", [name, time.time()])
            row = cursor.fetchone()
        return default if row is None else row[0]

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        name = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (name, value, expires) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value, expires = excluded.expires",
                [name, float(value), self._expires(timeout)],
            )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        name = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET expires = %s WHERE name = %s", [self._expires(timeout), name])
            return cursor.rowcount == 1

    def delete(self, key: Any, version: int | None = None) -> bool:
        name = self.make_and_validate_key(key, version=version)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE} WHERE name = %s", [name])
            return cursor.rowcount == 1

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self.get(key, version=version) is not None

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")
