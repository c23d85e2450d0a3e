"""The audit log, for auditors: filtered by person, action and dates; as a page or CSV."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from penaltypay.audit.models import AuditEntry
from penaltypay.kernel.clock import LONDON
from penaltypay.staff.forms import AuditFilterForm
from penaltypay.staff.pages import PAGE_SIZE, audit, csv_response, page_number
from penaltypay.staff.roles import AUDIT, requires

COLUMNS = ["at", "actor", "actor_kind", "action", "object_type", "object_id", "address", "outcome", "detail"]


def _filtered(form: AuditFilterForm) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.all()
    if not form.is_valid():
        return entries.none()
    data = form.cleaned_data
    if data["actor"]:
        entries = entries.filter(actor__iexact=data["actor"].strip())
    if data["action"]:
        entries = entries.filter(action=data["action"].strip())
    if data["date_from"]:
        entries = entries.filter(at__gte=datetime.combine(data["date_from"], time.min, tzinfo=LONDON))
    if data["date_to"]:
        entries = entries.filter(at__lt=datetime.combine(data["date_to"] + timedelta(days=1), time.min, tzinfo=LONDON))
    return entries.order_by("-at", "-id")


@requires(read=AUDIT)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    page = Paginator(_filtered(form), PAGE_SIZE).get_page(page_number(request))
    params = request.GET.copy()
    params.pop("page", None)
    audit(request, "read-audit-log", detail=params.urlencode()[:200])
    actions = AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    return render(
        request,
        "staff/audit.html",
        {"form": form, "page": page, "query_string": params.urlencode(), "actions": list(actions)},
    )


@requires(read=AUDIT)
@require_GET
def audit_csv(request: HttpRequest) -> HttpResponseBase:
    form = AuditFilterForm(request.GET)
    entries = _filtered(form).values_list(*COLUMNS).iterator(chunk_size=5000)
    audit(request, "download-audit-log", detail=request.GET.urlencode()[:200])
    rows = ([at.astimezone(LONDON).isoformat(), *rest] for at, *rest in entries)
    return csv_response(COLUMNS, rows, "audit-log.csv")
