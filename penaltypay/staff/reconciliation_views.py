"""Reconciliation in the back office (finance, supervisor; the auditor reads): every run,
each with its totals, the differences and what to do about them, what changed since the
run before, and a CSV of every item."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from penaltypay.reconciliation.models import ReconciliationRun
from penaltypay.reconciliation.report import CSV_COLUMNS, changes_since_previous, csv_rows
from penaltypay.reconciliation.rules import Class
from penaltypay.staff.pages import PAGE_SIZE, audit, csv_response, not_found, page_number
from penaltypay.staff.roles import FINANCE, requires


@requires(read=FINANCE)
@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    page = Paginator(ReconciliationRun.objects.all(), PAGE_SIZE).get_page(page_number(request))
    return render(request, "staff/reconciliation_runs.html", {"page": page, "query_string": ""})


@requires(read=FINANCE)
@require_GET
def run(request: HttpRequest, pk: int) -> HttpResponse:
    found = ReconciliationRun.objects.filter(pk=pk).first()
    if found is None:
        return not_found(request, "There is no reconciliation run with that number.")
    differences = found.items.exclude(cls=Class.MATCHED.value).order_by("cls", "case_reference", "key")
    audit(request, "view-reconciliation", object_type="reconciliation", object_id=str(found.pk))
    return render(
        request,
        "staff/reconciliation_run.html",
        {
            "run": found,
            "differences": differences,
            "changes": changes_since_previous(found),
            "classes": [cls.value for cls in Class],
        },
    )


@requires(read=FINANCE)
@require_GET
def run_csv(request: HttpRequest, pk: int) -> HttpResponseBase:
    found = ReconciliationRun.objects.filter(pk=pk).first()
    if found is None:
        return not_found(request, "There is no reconciliation run with that number.")
    audit(request, "download-reconciliation", object_type="reconciliation", object_id=str(found.pk))
    return csv_response(CSV_COLUMNS, csv_rows(found), f"reconciliation-{found.day}-run-{found.pk}.csv")
