"""What a search in the back office finds: the cases a query names (by penalty reference or
registration) and the payments that match it (by their own reference, the provider's
payment id, or the case's), narrowed by the dates they were made and their status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet

from penaltypay.cases.domain import is_valid_reference, is_valid_vrm, normalise_reference, normalise_vrm
from penaltypay.cases.store import case_records, references_for_vrm

if TYPE_CHECKING:
    from penaltypay.cases.models import CaseRecord
    from penaltypay.payments.models import Payment
from penaltypay.kernel.clock import LONDON
from penaltypay.payments import records
from penaltypay.payments.queries import payments_of_cases, penalties_of_payments

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
        references.update(references_for_vrm(as_vrm, MAX_CASES))
    return sorted(references)


def search(query: Query) -> Found:
    text = query.text.strip()
    payments = records.all_payments()
    case_refs: list[str] = []
    if text:
        case_refs = _case_references(text)
        paying_them = payments_of_cases(case_refs).values("pk")  # alone or in a basket
        payments = payments.filter(Q(reference__iexact=text) | Q(provider_payment_id=text) | Q(pk__in=paying_them))
    if query.date_from:
        payments = payments.filter(created_at__gte=_london_midnight(query.date_from))
    if query.date_to:
        payments = payments.filter(created_at__lt=_london_midnight(query.date_to + timedelta(days=1)))
    if query.status:
        payments = payments.filter(status=query.status)
    payments = payments.annotate(penalty_count=Count("lines")).order_by("-created_at", "-reference")
    if text and not case_refs:
        # A payment reference or provider id names its penalties too: show them beside it.
        case_refs = list(penalties_of_payments(payments)[:MAX_CASES])
    cases = case_records(case_refs, limit=MAX_CASES)
    return Found(cases=cases, payments=payments)
