"""Operator views of the extract imports (docs/extract-import.md): every run, and each
run's rejected (or conflicting) records as CSV. Same operator-token rule as /ops/outbox."""

from __future__ import annotations

import csv

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET

from penaltypay.extract.importer import expected_sequence
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.operations.auth import operator_allowed

MAX_RUNS = 500
RECORD_KINDS = {"rejected": ExtractRecordIssue.REJECTED, "conflicts": ExtractRecordIssue.CONFLICT}


def _refused(as_html: bool = False):
    if as_html:
        return HttpResponse("operator token required\n", status=403, content_type="text/plain; charset=utf-8")
    return JsonResponse({"detail": "operator token required"}, status=403)


def _wants_html(request) -> bool:
    if request.GET.get("format") in ("html", "json"):
        return request.GET["format"] == "html"
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


def _run_dict(run: ExtractImport) -> dict:
    return {
        "id": run.pk,
        "file": run.file_name,
        "sequence": run.sequence,
        "extract_date": run.extract_date.isoformat() if run.extract_date else None,
        "outcome": run.outcome,
        "reason": run.reason,
        "read": run.records_read,
        "applied": run.records_applied,
        "rejected": run.records_rejected,
        "conflicts": run.records_conflicts,
        "seconds": round(run.seconds, 3) if run.seconds is not None else None,
        "method": run.method,
        "sha256": run.sha256,
        "size_bytes": run.size_bytes,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "host": run.host,
        "rejected_csv": reverse("ops-extract-import-records", args=[run.pk, "rejected"]),
        "conflicts_csv": reverse("ops-extract-import-records", args=[run.pk, "conflicts"]),
    }


def _next_expected() -> int | None:
    try:
        return expected_sequence()
    except ValueError:
        return None


@require_GET
def extract_imports(request):
    """The latest runs, newest first: JSON (default) or an HTML table (?format=html)."""
    as_html = _wants_html(request)
    if not operator_allowed(request):
        return _refused(as_html)
    try:
        limit = max(1, min(MAX_RUNS, int(request.GET.get("limit", "50"))))
    except ValueError:
        limit = 50
    chosen = ExtractImport.objects.all()
    outcome = request.GET.get("outcome")
    if outcome in ExtractImport.OUTCOMES:
        chosen = chosen.filter(outcome=outcome)
    runs = [_run_dict(run) for run in chosen.order_by("-started_at", "-id")[:limit]]
    next_expected = _next_expected()
    if not as_html:
        return JsonResponse({"next_expected_sequence": next_expected, "runs": runs})
    rows = format_html_join(
        "\n",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        '<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href="{}">rejected</a> · '
        '<a href="{}">conflicts</a></td></tr>',
        (
            (
                r["id"],
                r["started_at"] or "",
                r["file"],
                r["sequence"] if r["sequence"] is not None else "",
                r["outcome"],
                r["read"],
                r["applied"],
                r["rejected"],
                r["conflicts"],
                "" if r["seconds"] is None else r["seconds"],
                r["method"],
                r["reason"],
                r["rejected_csv"],
                r["conflicts_csv"],
            )
            for r in runs
        ),
    )
    page = format_html(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Extract imports</title></head>'
        "<body><h1>Extract imports</h1><p>Next expected sequence: {}</p>"
        "<table><thead><tr><th>run</th><th>started</th><th>file</th><th>sequence</th><th>outcome</th>"
        "<th>read</th><th>applied</th><th>rejected</th><th>conflicts</th><th>seconds</th><th>method</th>"
        "<th>reason</th><th>records</th></tr></thead><tbody>{}</tbody></table></body></html>",
        "-" if next_expected is None else f"{next_expected:06d}",
        rows,
    )
    return HttpResponse(page, content_type="text/html; charset=utf-8")


@require_GET
def extract_import(request, pk: int):
    if not operator_allowed(request):
        return _refused()
    return JsonResponse(_run_dict(get_object_or_404(ExtractImport, pk=pk)))


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """A spreadsheet must not take a cell for a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@require_GET
def extract_import_records(request, pk: int, kind: str):
    """The run's rejected (or conflicting) records as CSV: line, reference, field, reason."""
    if not operator_allowed(request):
        return _refused(as_html=True)
    if kind not in RECORD_KINDS:
        return HttpResponse("unknown record list\n", status=404, content_type="text/plain; charset=utf-8")
    run = get_object_or_404(ExtractImport, pk=pk)
    writer = csv.writer(_Echo())
    issues = (
        ExtractRecordIssue.objects.filter(run=run, kind=RECORD_KINDS[kind])
        .order_by("line", "id")
        .values_list("line", "reference", "field", "reason")
        .iterator(chunk_size=5000)
    )

    def rows():
        yield writer.writerow(["line", "reference", "field", "reason"])
        for line, reference, field, reason in issues:
            yield writer.writerow([line, _cell(reference), field, _cell(reason)])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stem = run.file_name.rsplit(".", 1)[0] or f"run-{run.pk}"
    safe = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in stem)
    response["Content-Disposition"] = f'attachment; filename="{safe}-{kind}.csv"'
    return response
