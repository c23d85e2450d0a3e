"""Open performance data (issue 36, docs/open-data.md): a page anyone can read, in English
or Welsh, and the same figures as CSV and JSON under the Open Government Licence."""

from __future__ import annotations

import csv
import io
from datetime import date

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from penaltypay.cases.domain import CASE_TYPE_NAMES
from penaltypay.reporting.open_data import LICENCE, performance

SHOWN_WEEKS = 4  # the page shows the latest; the files hold all 52
CSV_COLUMNS = [
    "week_starting",
    "penalty_type",
    "penalties_paid",
    "paid_online_percent",
    "paid_by_phone_percent",
    "paid_by_link_percent",
    "median_minutes_look_up_to_paid",
    "refunds",
    "disputes_lost",
    "provider_fee_per_payment_pence",
    "completion_rate_percent",
    "user_satisfaction_percent",
    "suppressed",
]


def _public(response: HttpResponse) -> HttpResponse:
    """The files are the same for everyone: any cache may keep them for the hour."""
    response["Cache-Control"] = "public, max-age=3600"
    return response


@require_GET
def page(request: HttpRequest) -> HttpResponse:
    data = performance()
    weeks = [
        {**week, "week_starting_date": date.fromisoformat(week["week_starting"])}
        for week in reversed(data["weeks"][-SHOWN_WEEKS:])
    ]
    context = {"data": data, "weeks": weeks, "licence": LICENCE, "type_names": CASE_TYPE_NAMES}
    # Not for shared caches: the page is in the keeper's language, chosen in their session.
    return render(request, "citizen/performance.html", context)


@require_GET
def as_json(request: HttpRequest) -> HttpResponse:
    return _public(JsonResponse(performance(), json_dumps_params={"ensure_ascii": False}))


@require_GET
def as_csv(request: HttpRequest) -> HttpResponse:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for week in performance()["weeks"]:
        for row in week["penalty_types"]:
            writer.writerow(
                {
                    **{name: row[name] for name in CSV_COLUMNS if name in row and name != "suppressed"},
                    "week_starting": week["week_starting"],
                    "completion_rate_percent": week["completion_rate_percent"],
                    "user_satisfaction_percent": week["user_satisfaction_percent"],
                    "suppressed": " ".join(row["suppressed"] + week["suppressed"]),
                }
            )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="pay-a-vehicle-penalty-performance.csv"'
    return _public(response)
