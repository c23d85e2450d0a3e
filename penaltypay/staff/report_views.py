"""Reports (finance, supervisor; the auditor reads): money by day, week or month, by
channel and case type; the outbox backlog and new exceptions per day; the four KPIs of the
GOV.UK Service Standard. Charts are SVG drawn here, each with its table; CSV of the money."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from penaltypay.kernel.clock import LONDON, london_date
from penaltypay.kernel.money import format_pence
from penaltypay.reporting.kpis import all_kpis
from penaltypay.reporting.models import Feedback
from penaltypay.reporting.series import money_by_period, outbox_by_day
from penaltypay.staff.charts import bar_chart
from penaltypay.staff.forms import DATE_ERRORS
from penaltypay.staff.pages import PAGE_SIZE, audit, csv_response, page_number
from penaltypay.staff.roles import ACCOUNTS, FINANCE, requires

PERIODS = {"day": "Day", "week": "Week", "month": "Month"}
MAX_DAYS = 400


class ReportForm(forms.Form):
    period = forms.ChoiceField(choices=list(PERIODS.items()), required=False)
    date_from = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages=DATE_ERRORS)
    date_to = forms.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages=DATE_ERRORS)

    def clean(self):
        data = super().clean() or {}
        today = london_date(timezone.now())
        data["period"] = data.get("period") or "day"
        data["date_to"] = data.get("date_to") or today
        data["date_from"] = data.get("date_from") or data["date_to"] - timedelta(days=29)
        if data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date must be the same as or after the start date")
        elif (data["date_to"] - data["date_from"]).days > MAX_DAYS:
            self.add_error("date_from", f"Choose at most {MAX_DAYS} days")
        return data


def _window(first: date, last: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(first, time.min, tzinfo=LONDON),
        datetime.combine(last + timedelta(days=1), time.min, tzinfo=LONDON),
    )


def _read(request: HttpRequest) -> tuple[ReportForm, dict | None]:
    form = ReportForm(request.GET)
    if not form.is_valid():
        return form, None
    return form, form.cleaned_data


@requires(read=FINANCE)
@require_GET
def reports(request: HttpRequest) -> HttpResponse:
    form, data = _read(request)
    context: dict = {"form": form, "periods": PERIODS}
    if data is not None:
        start, end = _window(data["date_from"], data["date_to"])
        rows = money_by_period(data["period"], start, end)
        per_period: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for row in rows:
            totals = per_period[row.period]
            totals[0] += row.payments
            totals[1] += row.paid_pence
            totals[2] += row.refunds
            totals[3] += row.refunded_pence
        label = "%-d %b %Y" if data["period"] != "month" else "%b %Y"
        outbox = outbox_by_day(data["date_from"], data["date_to"]) if data["period"] == "day" else []
        context.update(
            rows=rows,
            data=data,
            kpis=all_kpis(start, end),
            money_chart=bar_chart(
                "Money taken",
                [
                    (day.strftime(label), totals[1], format_pence(totals[1]))
                    for day, totals in sorted(per_period.items())
                ],
            ),
            count_chart=bar_chart(
                "Payments",
                [(day.strftime(label), totals[0], str(totals[0])) for day, totals in sorted(per_period.items())],
            ),
            backlog_chart=bar_chart(
                "Waiting for ECS at the end of the day",
                [(day.day.strftime(label), day.waiting_at_end, str(day.waiting_at_end)) for day in outbox],
            ),
            outbox=outbox,
            per_period=sorted(per_period.items()),
            label=label,
        )
    return render(request, "staff/reports.html", context, status=200)


@requires(read=FINANCE)
@require_GET
def reports_csv(request: HttpRequest) -> HttpResponseBase:
    form, data = _read(request)
    if data is None:
        return reports(request)
    start, end = _window(data["date_from"], data["date_to"])
    rows = (
        [
            row.period.isoformat(),
            row.channel,
            row.case_type,
            row.payments,
            row.paid_pence,
            row.refunds,
            row.refunded_pence,
        ]
        for row in money_by_period(data["period"], start, end)
    )
    audit(request, "download-report", detail=f"{data['period']} {data['date_from']} {data['date_to']}")
    return csv_response(
        ["period_start", "channel", "case_type", "payments", "paid_pence", "refunds", "refunded_pence"],
        rows,
        f"payments-by-{data['period']}-{data['date_from']}.csv",
    )


@requires(read=ACCOUNTS)
@require_GET
def feedback(request: HttpRequest) -> HttpResponse:
    page = Paginator(Feedback.objects.all(), PAGE_SIZE).get_page(page_number(request))
    audit(request, "view-feedback")
    return render(request, "staff/feedback.html", {"page": page, "ratings": Feedback.RATINGS, "query_string": ""})
