"""The payments app's records as the reports, the KPIs, the metrics and the integrity checks
read them: other apps ask these questions here, never of penaltypay.payments.models (an
import contract keeps it so). Each answer is a query, to count or sum as the caller needs."""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Count, Q, QuerySet

from penaltypay.payments.domain import PaymentStatus
from penaltypay.payments.models import Dispute, Payment, PaymentLine, Refund
from penaltypay.payments.ports import OPEN_DISPUTE_STATUSES
from penaltypay.payments.refund_rules import PAID_BACK, RefundStatus

SUCCESS = PaymentStatus.SUCCESS.value


def successful_payments_between(start: datetime, end: datetime) -> QuerySet[Payment]:
    """Payments that succeeded, made at or after `start` and before `end`."""
    return Payment.objects.filter(status=SUCCESS, created_at__gte=start, created_at__lt=end)


def refunds_paid_back_between(start: datetime, end: datetime) -> QuerySet[Refund]:
    return Refund.objects.filter(status__in=[s.value for s in PAID_BACK], finished_at__gte=start, finished_at__lt=end)


def disputes_lost_between(start: datetime, end: datetime) -> QuerySet[Dispute]:
    return Dispute.objects.filter(status="lost", decided_at__gte=start, decided_at__lt=end)


def payments_by_status() -> dict[str, int]:
    return dict(Payment.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))


def successful_payments_and_ecs() -> QuerySet:
    """(reference, when ECS recorded it) of every successful payment."""
    return Payment.objects.filter(status=SUCCESS).values_list("reference", "ecs_recorded_at")


def successful_refunds_and_ecs() -> QuerySet:
    """(reference, when ECS recorded it, why it does not go to ECS) of every successful refund."""
    return Refund.objects.filter(status="success").values_list("reference", "ecs_recorded_at", "ecs_note")


def successful_payment_amounts() -> QuerySet:
    """(reference, amount, when it was paid) of every successful payment."""
    return Payment.objects.filter(status=SUCCESS).values_list("reference", "amount_pence", "authorised_at")


def payment_references() -> set[str]:
    return set(Payment.objects.values_list("reference", flat=True))


# What the daily reconciliation reads of our side.


def refunds_succeeded_between(start: datetime, end: datetime) -> QuerySet[Refund]:
    """Successful refunds submitted to the provider at or after `start`, before `end`."""
    return Refund.objects.select_related("payment").filter(
        status=RefundStatus.SUCCESS.value, submitted_at__gte=start, submitted_at__lt=end
    )


def payments_with_provider_ids(ids: list[str]) -> QuerySet[Payment]:
    return Payment.objects.filter(provider_payment_id__in=ids)


def refunds_with_provider_ids(ids: list[str]) -> QuerySet[Refund]:
    return Refund.objects.select_related("payment").filter(provider_refund_id__in=ids)


def disputes_lost_on(day: date, start: datetime, end: datetime) -> QuerySet[Dispute]:
    """Lost disputes settled on `day`, or, not settled yet, decided between `start` and `end`."""
    return Dispute.objects.select_related("payment").filter(
        Q(settled_date=day) | Q(settled_date__isnull=True, decided_at__gte=start, decided_at__lt=end),
        status="lost",
    )


def disputes_lost_with_ids(ids: list[str]) -> QuerySet[Dispute]:
    return Dispute.objects.select_related("payment").filter(provider_dispute_id__in=ids, status="lost")


def penalties_paid_by(references: list[str]) -> QuerySet:
    """Every penalty the payments with these references paid (a basket's every line)."""
    return PaymentLine.objects.filter(payment__reference__in=references).values_list("case_reference", flat=True)


# What the exceptions queue reads: money a person must look at.


def refunds_failed_unresolved() -> QuerySet[Refund]:
    return Refund.objects.filter(
        status__in=[RefundStatus.ERROR.value, RefundStatus.REFUSED.value], resolved_at__isnull=True
    ).select_related("payment")


def refunds_in_status(status: RefundStatus) -> QuerySet[Refund]:
    return Refund.objects.filter(status=status.value).select_related("payment")


def disputes_open() -> QuerySet[Dispute]:
    return Dispute.objects.filter(status__in=sorted(OPEN_DISPUTE_STATUSES)).select_related("payment")


def paid_lines_between(start: datetime, end: datetime) -> QuerySet[PaymentLine]:
    """Each penalty paid by a payment that succeeded, made in the period (open data)."""
    return PaymentLine.objects.filter(
        payment__status=SUCCESS, payment__created_at__gte=start, payment__created_at__lt=end
    )
