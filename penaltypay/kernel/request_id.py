"""The id of the request a piece of work belongs to, for every log line written while
doing it: taken from `X-Request-Id` (or made) for a web request, and carried with a
payment to the worker that later settles it and writes it to ECS."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

_CURRENT: ContextVar[str] = ContextVar("request_id", default="")
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._-]{8,64}")


def current() -> str:
    return _CURRENT.get()


def from_header(value: str | None) -> str:
    """A caller's id when it is a sensible one (never arbitrary text into our logs)."""
    return value if value and _ACCEPTABLE.fullmatch(value) else uuid.uuid4().hex


@contextlib.contextmanager
def use(request_id: str) -> Iterator[None]:
    token = _CURRENT.set(request_id or "")
    try:
        yield
    finally:
        _CURRENT.reset(token)
