"""Open performance data (issue 36, docs/open-data.md): for each of the last 52 complete
weeks (Monday to Sunday, Europe/London) and each penalty type, what the service did —
from the records the KPIs already use. No personal data; any count from 1 to 9 is
suppressed (shown as none, with `suppressed`), and so is anything worked out from it, so
that no small group can be singled out. Published under the Open Government Licence."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, DateTimeField, OuterRef, Subquery
from django.db.models.functions import TruncWeek
from django.utils import timezone

from penaltypay.kernel.clock import LONDON, london_date
from penaltypay.payments.domain import CHANNEL_PHONE
from penaltypay.payments.figures import disputes_lost_between, paid_lines_between, refunds_paid_back_between
from penaltypay.payments.queries import paid_within
from penaltypay.reporting.models import Feedback, Lookup

WEEKS = 52
SMALLEST_SHOWN = 10
PENALTY_TYPES = ("7A", "29KK", "144A")
LICENCE = {
    "name": "Open Government Licence v3.0",
    "url": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
}
CACHE_SECONDS = 3600
SCHEMA_VERSION = 1


@dataclass
class TypeWeek:
    penalty_type: str
    penalties_paid: int | None = 0
    paid_online_percent: float | None = None
    paid_by_phone_percent: float | None = None
    paid_by_link_percent: float | None = None
    median_minutes_look_up_to_paid: float | None = None
    refunds: int | None = 0
    disputes_lost: int | None = 0
    provider_fee_per_payment_pence: float | None = None
    suppressed: list[str] = field(default_factory=list)


@dataclass
class Week:
    week_starting: date
    completion_rate_percent: float | None
    user_satisfaction_percent: float | None
    penalty_types: list[TypeWeek]
    suppressed: list[str] = field(default_factory=list)


@dataclass
class _Tally:
    online: int = 0
    phone: int = 0
    link: int = 0
    minutes: list[float] = field(default_factory=list)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _at(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON)


def weeks_covered(now: datetime | None = None) -> tuple[date, date]:
    """(first Monday, the Monday after the last complete week)."""
    this_week = _monday(london_date(now or timezone.now()))
    return this_week - timedelta(weeks=WEEKS), this_week


_published: dict[str, dict] = {}
_lock = threading.Lock()


def performance(now: datetime | None = None) -> dict:
    """The whole publication, worked out at most once an hour in each process (and afresh
    when a week ends): the page and the files are then served from memory, whatever the load."""
    first, after = weeks_covered(now)
    key = f"{after.isoformat()}:{int(timezone.now().timestamp()) // CACHE_SECONDS}"
    with _lock:
        if key not in _published:
            _published.clear()
            _published[key] = _publication(first, after)
        return _published[key]


def forget() -> None:
    """Tests: work the figures out again."""
    with _lock:
        _published.clear()


def _publication(first: date, after: date) -> dict:
    weeks = _weeks(first, after)
    return {
        "title": "Pay a vehicle penalty: performance data",
        "schema_version": SCHEMA_VERSION,
        "licence": LICENCE,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "weeks_from": first.isoformat(),
        "weeks_to": (after - timedelta(days=1)).isoformat(),
        "suppression": f"Counts from 1 to {SMALLEST_SHOWN - 1}, and anything worked out from them, are not shown.",
        "weeks": [_as_json(week) for week in weeks],
    }


def _as_json(week: Week) -> dict:
    value = asdict(week)
    value["week_starting"] = week.week_starting.isoformat()
    return value


def _percent(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def _week_of(value: datetime) -> date:
    return _monday(value.astimezone(LONDON).date())


def _weeks(first: date, after: date) -> list[Week]:
    start, end = _at(first), _at(after)
    lines: defaultdict[tuple[date, str], _Tally] = defaultdict(_Tally)
    last_look_up = Lookup.objects.filter(
        case_reference=OuterRef("case_reference"),
        at__lte=OuterRef("payment__created_at"),
        at__gte=OuterRef("payment__created_at") - timedelta(hours=24),
    ).order_by("-at")
    paid = paid_lines_between(start, end).annotate(
        looked_up=Subquery(last_look_up.values("at")[:1], output_field=DateTimeField())
    )
    for row in paid.values(
        "case_type", "payment__created_at", "payment__channel", "payment__link_sent_by", "looked_up"
    ).iterator():
        key = (_week_of(row["payment__created_at"]), row["case_type"])
        kind = (
            "phone"
            if row["payment__channel"] == CHANNEL_PHONE
            else ("link" if row["payment__link_sent_by"] else "online")
        )
        setattr(lines[key], kind, getattr(lines[key], kind) + 1)
        if row["looked_up"] is not None:
            lines[key].minutes.append((row["payment__created_at"] - row["looked_up"]).total_seconds() / 60)
    fees = {
        (row["week"].astimezone(LONDON).date(), row["payment__case_type"]): row["fee"]
        for row in paid.filter(position=0, payment__fee_pence__isnull=False)
        .annotate(week=TruncWeek("payment__created_at", tzinfo=LONDON))
        .values("week", "payment__case_type")
        .annotate(fee=Avg("payment__fee_pence"))
    }
    refunds = _counted(refunds_paid_back_between(start, end), "finished_at", "payment__case_type")
    disputes = _counted(disputes_lost_between(start, end), "decided_at", "payment__case_type")
    looked = _counted(Lookup.objects.filter(at__gte=start, at__lt=end, payable=True), "at", None)
    completed = _counted(
        Lookup.objects.filter(at__gte=start, at__lt=end, payable=True).filter(
            paid_within("case_reference", "at", timedelta(hours=24))
        ),
        "at",
        None,
    )
    answered = _counted(Feedback.objects.filter(at__gte=start, at__lt=end), "at", None)
    satisfied = _counted(Feedback.objects.filter(at__gte=start, at__lt=end, rating__gte=4), "at", None)

    weeks = []
    monday = first
    while monday < after:
        types = []
        for penalty_type in PENALTY_TYPES:
            got = lines[(monday, penalty_type)]
            count = got.online + got.phone + got.link
            fee = fees.get((monday, penalty_type))
            figures = TypeWeek(
                penalty_type,
                penalties_paid=count,
                paid_online_percent=_percent(got.online, count),
                paid_by_phone_percent=_percent(got.phone, count),
                paid_by_link_percent=_percent(got.link, count),
                median_minutes_look_up_to_paid=round(statistics.median(got.minutes), 1) if got.minutes else None,
                refunds=refunds.get((monday, penalty_type), 0),
                disputes_lost=disputes.get((monday, penalty_type), 0),
                provider_fee_per_payment_pence=None if fee is None else round(float(fee), 1),
            )
            _suppress(figures, count)
            types.append(figures)
        week = Week(
            monday,
            completion_rate_percent=_percent(completed.get(monday, 0), looked.get(monday, 0)),
            user_satisfaction_percent=_percent(satisfied.get(monday, 0), answered.get(monday, 0)),
            penalty_types=types,
        )
        if 0 < looked.get(monday, 0) < SMALLEST_SHOWN:
            week.completion_rate_percent = None
            week.suppressed.append("completion_rate_percent")
        if 0 < answered.get(monday, 0) < SMALLEST_SHOWN:
            week.user_satisfaction_percent = None
            week.suppressed.append("user_satisfaction_percent")
        weeks.append(week)
        monday += timedelta(weeks=1)
    return weeks


def _suppress(row: TypeWeek, count: int) -> None:
    if 0 < count < SMALLEST_SHOWN:  # everything worked out from the penalties paid goes too
        for name in (
            "penalties_paid",
            "paid_online_percent",
            "paid_by_phone_percent",
            "paid_by_link_percent",
            "median_minutes_look_up_to_paid",
            "provider_fee_per_payment_pence",
        ):
            setattr(row, name, None)
            row.suppressed.append(name)
    for name in ("refunds", "disputes_lost"):
        if 0 < (getattr(row, name) or 0) < SMALLEST_SHOWN:
            setattr(row, name, None)
            row.suppressed.append(name)


def _counted(queryset, at: str, case_type: str | None) -> dict:
    """Counts by week (and by penalty type, when named)."""
    fields = ["week"] + ([case_type] if case_type else [])
    counts = {}
    for row in queryset.annotate(week=TruncWeek(at, tzinfo=LONDON)).values(*fields).annotate(n=Count("pk")):
        week = row["week"].astimezone(LONDON).date() if isinstance(row["week"], datetime) else row["week"]
        counts[(week, row[case_type]) if case_type else week] = row["n"]
    return counts
