"""Service operations pages (support, supervisor; the auditor reads): the ECS outbox with
its exceptions and what to do with them, and the nightly extract imports with their
rejected records as CSV. References only: no names, no registrations."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from penaltypay.ecs import deliveries
from penaltypay.ecs.outbox import NotAnException, backlog, requeue_exception, resolve_exception
from penaltypay.extract.importer import expected_sequence
from penaltypay.extract.models import ExtractImport, ExtractRecordIssue
from penaltypay.staff.forms import NoteForm
from penaltypay.staff.pages import audit, csv_response, not_found
from penaltypay.staff.roles import OPERATIONS, requires, roles_of

MAX_RUNS = 100
MAX_EXCEPTIONS = 200
RECORD_KINDS = {"rejected": ExtractRecordIssue.REJECTED, "conflicts": ExtractRecordIssue.CONFLICT}
ACTIONS = {"resolve": resolve_exception, "requeue": requeue_exception}


@requires(read=OPERATIONS)
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    exceptions = deliveries.exceptions(limit=MAX_EXCEPTIONS)
    handled = deliveries.recently_handled(20)
    return render(request, "staff/outbox.html", {"backlog": backlog(), "exceptions": exceptions, "handled": handled})


@requires(read=OPERATIONS, act=OPERATIONS)
@require_http_methods(["GET", "POST"])
def outbox_exception(request: HttpRequest, event_id: int) -> HttpResponse:
    """Resolve (dealt with outside this service; never sent) or re-queue (send again)."""
    event = deliveries.delivery_by_id(event_id)
    if event is None:
        return not_found(request, "There is no outbox event with that number.")
    form = NoteForm(request.POST if request.method == "POST" else None)
    action = request.POST.get("action", "")
    if request.method == "POST":
        valid = form.is_valid()
        if action not in ACTIONS:
            form.add_error(None, "Choose whether to resolve or re-queue it")
        elif valid:
            try:
                ACTIONS[action](event.id, by=request.user.get_username(), note=form.cleaned_data["note"])
            except NotAnException:
                form.add_error(None, "This event is no longer an exception: someone else has dealt with it")
                audit(
                    request,
                    f"outbox-{action}",
                    object_type="outbox-event",
                    object_id=str(event.id),
                    outcome="refused",
                    detail="not an exception",
                )
            else:
                audit(
                    request,
                    f"outbox-{action}",
                    object_type="outbox-event",
                    object_id=str(event.id),
                    detail=f"case {event.case_reference}",
                )
                return redirect("staff:outbox")
    can_act = bool(roles_of(request.user) & OPERATIONS)
    return render(
        request, "staff/outbox_exception.html", {"event": event, "form": form, "action": action, "can_act": can_act}
    )


def _next_expected() -> int | None:
    try:
        return expected_sequence()
    except ValueError:
        return None


@requires(read=OPERATIONS)
@require_GET
def extract_imports(request: HttpRequest) -> HttpResponse:
    runs = ExtractImport.objects.all()
    outcome = request.GET.get("outcome", "")
    if outcome in ExtractImport.OUTCOMES:
        runs = runs.filter(outcome=outcome)
    return render(
        request,
        "staff/extract_imports.html",
        {
            "runs": runs.order_by("-started_at", "-id")[:MAX_RUNS],
            "next_expected": _next_expected(),
            "outcome": outcome,
            "outcomes": ExtractImport.OUTCOMES,
        },
    )


@requires(read=OPERATIONS)
@require_GET
def extract_import(request: HttpRequest, pk: int) -> HttpResponse:
    run = ExtractImport.objects.filter(pk=pk).first()
    if run is None:
        return not_found(request, "There is no extract import with that number.")
    return render(request, "staff/extract_import.html", {"run": run})


@requires(read=OPERATIONS)
@require_GET
def extract_import_records(request: HttpRequest, pk: int, kind: str) -> HttpResponseBase:
    """The run's rejected (or conflicting) records as CSV: line, reference, field, reason."""
    run = ExtractImport.objects.filter(pk=pk).first()
    if kind not in RECORD_KINDS or run is None:
        return not_found(request, "There is no such list of records.")
    issues = (
        ExtractRecordIssue.objects.filter(run=run, kind=RECORD_KINDS[kind])
        .order_by("line", "id")
        .values_list("line", "reference", "field", "reason")
        .iterator(chunk_size=5000)
    )
    audit(request, "download-extract-records", object_type="extract-import", object_id=str(run.pk), detail=kind)
    stem = run.file_name.rsplit(".", 1)[0] or f"run-{run.pk}"
    return csv_response(["line", "reference", "field", "reason"], (list(row) for row in issues), f"{stem}-{kind}.csv")
