"""What a search in the back office finds: the cases a query names (by penalty reference or
registration) and the payments that match it (by their own reference, the provider's
payment id, or the case's), narrowed by the dates they were made and their status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet

from penaltypay.cases.domain import is_valid_reference, is_valid_vrm, normalise_reference, normalise_vrm
from penaltypay.cases.models import CaseRecord
from penaltypay.kernel.clock import LONDON
from penaltypay.payments.models import Payment

MAX_CASES = 50


@dataclass(frozen=True)
class Query:
    text: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""


@dataclass(frozen=True)
class Found:
    cases: list[CaseRecord]
    payments: QuerySet[Payment]


def _london_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LONDON)


def _case_references(text: str) -> list[str]:
    """The cases a query names: a penalty reference, or a registration number."""
    references: set[str] = set()
    as_reference = normalise_reference(text)
    if is_valid_reference(as_reference):
        references.add(as_reference)
    as_vrm = normalise_vrm(text)
    if is_valid_vrm(as_vrm):
        references.update(CaseRecord.objects.filter(vrm=as_vrm).values_list("reference", flat=True)[:MAX_CASES])
    return sorted(references)


def search(query: Query) -> Found:
    text = query.text.strip()
    payments = Payment.objects.all()
    case_refs: list[str] = []
    if text:
        case_refs = _case_references(text)
        payments = payments.filter(
            Q(reference__iexact=text) | Q(provider_payment_id=text) | Q(case_reference__in=case_refs)
        )
    if query.date_from:
        payments = payments.filter(created_at__gte=_london_midnight(query.date_from))
    if query.date_to:
        payments = payments.filter(created_at__lt=_london_midnight(query.date_to + timedelta(days=1)))
    if query.status:
        payments = payments.filter(status=query.status)
    payments = payments.order_by("-created_at", "-reference")
    if text and not case_refs:
        # A payment reference or provider id names one case too: show it beside the payment.
        case_refs = list(payments.values_list("case_reference", flat=True).distinct()[:MAX_CASES])
    cases = list(CaseRecord.objects.filter(reference__in=case_refs).order_by("reference")[:MAX_CASES])
    return Found(cases=cases, payments=payments)
