"""Reconciliation in the back office (finance, supervisor; the auditor reads): every run,
each with its totals, the differences and what to do about them, what changed since the
run before, and a CSV of every item; loading the bank statement (the fourth side)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods

from penaltypay.reconciliation.bank import load_statement
from penaltypay.reconciliation.models import BankStatement, ReconciliationRun
from penaltypay.reconciliation.report import CSV_COLUMNS, changes_since_previous, csv_rows
from penaltypay.reconciliation.rules import Class
from penaltypay.reconciliation.statement import MAX_BYTES, StatementRefused
from penaltypay.staff.pages import PAGE_SIZE, audit, csv_response, not_found, page_number
from penaltypay.staff.roles import FINANCE, requires


@requires(read=FINANCE, act=FINANCE)
@require_http_methods(["GET", "POST"])
def runs(request: HttpRequest) -> HttpResponse:
    """Every run; finance loads the bank statement here too (POST, a CSV file)."""
    context: dict = {"query_string": ""}
    status = 200
    if request.method == "POST":
        context, status = _load_statement(request)
    context["page"] = Paginator(ReconciliationRun.objects.all(), PAGE_SIZE).get_page(page_number(request))
    context["statements"] = BankStatement.objects.all()[:5]
    return render(request, "staff/reconciliation_runs.html", context, status=status)


def _load_statement(request: HttpRequest) -> tuple[dict, int]:
    upload = request.FILES.get("statement")
    if upload is None:
        return {"problem": "Choose the bank statement file (CSV) to load", "query_string": ""}, 400
    data = upload.read(MAX_BYTES + 1)
    by = request.user.get_username()
    try:
        loaded = load_statement(data, file_name=upload.name or "", by=by)
    except StatementRefused as refused:
        audit(request, "bank-statement-import", object_type="bank-statement", outcome="failure", detail=str(refused))
        return {"problem": f"The statement was not loaded: {refused}", "query_string": ""}, 400
    statement = loaded.statement
    audit(
        request,
        "bank-statement-import",
        object_type="bank-statement",
        object_id=str(statement.pk),
        detail=f"{statement.file_name}: {'already loaded' if loaded.already_loaded else f'{statement.new_lines} new'}",
    )
    return {"loaded": loaded, "query_string": ""}, 200


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
