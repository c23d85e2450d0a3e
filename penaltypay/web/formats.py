"""Dates and times as the keeper reads them, in the active language: '22 November 2026',
'22 Tachwedd 2026'; '2:05pm'. Deadlines are Europe/London calendar dates."""

from __future__ import annotations

from datetime import date, datetime

from django.utils.translation import gettext

from penaltypay.kernel.clock import LONDON


def _months() -> list[str]:
    return [
        gettext("January"),
        gettext("February"),
        gettext("March"),
        gettext("April"),
        gettext("May"),
        gettext("June"),
        gettext("July"),
        gettext("August"),
        gettext("September"),
        gettext("October"),
        gettext("November"),
        gettext("December"),
    ]


def long_date(value: date | datetime | None) -> str:
    """GOV.UK style, no leading zero; an instant is dated in Europe/London."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON)
    return f"{value.day} {_months()[value.month - 1]} {value.year}"


def clock_time(value: datetime) -> str:
    """'2:05pm', '12pm' style (GOV.UK), in Europe/London."""
    moment = value.astimezone(LONDON)
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    return f"{hour}:{moment.minute:02d}{suffix}" if moment.minute else f"{hour}{suffix}"


def long_date_time(value: datetime) -> str:
    return gettext("%(date)s at %(time)s") % {"date": long_date(value), "time": clock_time(value)}
