"""Questions about our payments that other parts of the service ask (no side effects)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet, Sum

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Payment


def pending_paid_pence(case_reference: str) -> int:
    """Money we have taken for a case that ECS's ledger does not show yet."""
    total = Payment.objects.filter(
        case_reference=case_reference, status=PaymentStatus.SUCCESS.value, ecs_recorded_at__isnull=True
    ).aggregate(total=Sum("amount_pence"))["total"]
    return int(total or 0)


def cases_paid_since(cut: datetime) -> QuerySet:
    """References of cases penaltypay took money for at or after `cut`, or whose payment ECS
    recorded since then: a picture of a case taken at `cut` does not know about that money.
    The nightly extract's no-reopen rule (one definition, used by its ORM and SQL paths)."""
    since_cut = (
        Q(authorised_at__gte=cut) | Q(authorised_at__isnull=True, created_at__gte=cut) | Q(ecs_recorded_at__gte=cut)
    )
    return (
        Payment.objects.filter(since_cut, status=PaymentStatus.SUCCESS.value)
        .values_list("case_reference", flat=True)
        .distinct()
    )
