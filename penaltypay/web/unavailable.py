"""Telling "the database is away for a moment" from a fault: every interface answers the
first with "try again shortly" (503, Retry-After) instead of a server error."""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError

RETRY_AFTER_SECONDS = 30


def database_unavailable(error: BaseException | None) -> bool:
    """The database went away (restart, failover, connections refused), as opposed to a
    bug in a query: OperationalError and InterfaceError, however deep they were raised."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, OperationalError | InterfaceError):
            return True
        if isinstance(error, DatabaseError):
            return False
        error = error.__cause__ or error.__context__
        seen += 1
    return False
