"""The local case store (CaseRecord): what we last heard about each case, from ECS's
answers, the nightly extract and our own deliveries to ECS."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

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
