"""The local case store (CaseRecord): what we last heard about each case, from ECS's
answers, the nightly extract and our own deliveries to ECS."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import F, QuerySet

from penaltypay.cases.domain import Case
from penaltypay.cases.models import CaseRecord


def remember_case(case: Case) -> None:
    with transaction.atomic():
        CaseRecord.objects.update_or_create(
            reference=case.reference,
            defaults={**CaseRecord.fields_from_case(case), "source": CaseRecord.SOURCE_ECS},
        )


def local_case(reference: str, vrm: str) -> Case | None:
    record = CaseRecord.objects.filter(reference=reference, vrm=vrm).first()
    return record.to_case() if record else None


def apply_ecs_write(case_reference: str, paid_change_pence: int, case_status: str | None) -> None:
    """ECS's ledger took a payment (+) or a refund (-) of ours: our copy follows, so the
    money stops counting as 'pending' for the amount due."""
    record = CaseRecord.objects.filter(reference=case_reference)
    record.update(amount_paid_pence=F("amount_paid_pence") + paid_change_pence)
    if case_status:
        record.update(status=case_status)


def case_record(reference: str) -> CaseRecord | None:
    """Our copy of a case (the back office shows it), or None."""
    return CaseRecord.objects.filter(reference=reference).first()


def case_records(references: Iterable[str], limit: int | None = None) -> list[CaseRecord]:
    """Our copies of these cases, by reference."""
    found = CaseRecord.objects.filter(reference__in=list(references)).order_by("reference")
    return list(found[:limit] if limit else found)


def references_for_vrm(vrm: str, limit: int) -> list[str]:
    return list(CaseRecord.objects.filter(vrm=vrm).values_list("reference", flat=True)[:limit])


def lock_case(reference: str) -> None:
    """The case's row lock, inside the caller's transaction (PostgreSQL; SQLite's
    transactions are serial anyway)."""
    CaseRecord.objects.select_for_update().filter(reference=reference).first()


def closed_cases_refreshed_before(statuses: Iterable[str], cut: datetime) -> QuerySet[CaseRecord]:
    return CaseRecord.objects.filter(status__in=list(statuses), refreshed_at__lt=cut)


# The nightly extract's bulk load writes the store directly, for speed.
EXTRACT_SOURCE = CaseRecord.SOURCE_EXTRACT


def store_extract_cases(cases: list[Case], update_fields: list[str]) -> int:
    """Insert or update these cases from the extract in one statement; how many."""
    if not cases:
        return 0
    CaseRecord.objects.bulk_create(
        [CaseRecord(reference=c.reference, source=EXTRACT_SOURCE, **CaseRecord.fields_from_case(c)) for c in cases],
        update_conflicts=True,
        unique_fields=["reference"],
        update_fields=update_fields,
    )
    return len(cases)


def case_table(field_names: Iterable[str]) -> tuple[str, list[str]]:
    """The case store's table and these fields' columns (the extract's COPY writes them)."""
    meta = CaseRecord._meta
    return meta.db_table, [meta.get_field(name).column for name in field_names]  # type: ignore[union-attr,misc]
