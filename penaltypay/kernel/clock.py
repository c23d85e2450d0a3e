"""Time: moments are timezone-aware; deadline dates are Europe/London calendar dates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def london_date(at: datetime) -> date:
    """The Europe/London calendar date of an aware moment (deadlines are London dates)."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime has no calendar date in London")
    return at.astimezone(LONDON).date()
