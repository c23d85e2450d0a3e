"""Questions about our payments that other parts of the service ask (no side effects)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q, QuerySet

from penaltypay.ecs.deliveries import deliveries_of_payments
from penaltypay.payments.domain import LIVE_STATUSES, PaymentStatus
from penaltypay.payments.held import Held, PaymentFact, RefundFact, held
from penaltypay.payments.models import Dispute, Payment, Refund
from penaltypay.payments.refund_rules import HOLDS_MONEY, PAID_BACK, RefundStatus

_COUNTED = [PaymentStatus.SUCCESS.value, *(s.value for s in LIVE_STATUSES)]


def held_against_many(case_references: Iterable[str]) -> dict[str, Held]:
    """The money held against each case (penaltypay.payments.held), in four queries."""
    references = list(dict.fromkeys(case_references))
    payments = list(
        Payment.objects.filter(case_reference__in=references, status__in=_COUNTED).values(
            "pk", "reference", "case_reference", "amount_pence", "status", "ecs_recorded_at"
        )
    )
    refunds: dict[object, list[RefundFact]] = defaultdict(list)
    for payment_pk, amount, status, recorded in Refund.objects.filter(
        payment_id__in=[p["pk"] for p in payments], status__in=[s.value for s in HOLDS_MONEY]
    ).values_list("payment_id", "amount_pence", "status", "ecs_recorded_at"):
        refunds[payment_pk].append(
            RefundFact(amount, succeeded=RefundStatus(status) in PAID_BACK, in_ecs=recorded is not None)
        )
    # A lost dispute is money taken back, told to ECS as a refund: it counts as one.
    for payment_pk, amount, recorded in Dispute.objects.filter(
        payment_id__in=[p["pk"] for p in payments], status="lost"
    ).values_list("payment_id", "amount_pence", "ecs_recorded_at"):
        refunds[payment_pk].append(RefundFact(amount, succeeded=True, in_ecs=recorded is not None))
    delivered = deliveries_of_payments(p["reference"] for p in payments if p["status"] == PaymentStatus.SUCCESS.value)
    facts: dict[str, list[PaymentFact]] = {reference: [] for reference in references}
    for p in payments:
        delivery = delivered.get(p["reference"])
        facts[p["case_reference"]].append(
            PaymentFact(
                p["amount_pence"],
                live=p["status"] != PaymentStatus.SUCCESS.value,
                succeeded=p["status"] == PaymentStatus.SUCCESS.value,
                in_ecs=p["ecs_recorded_at"] is not None,
                never_to_ecs=delivery is not None and delivery.never_to_ecs,
                refunds=tuple(refunds[p["pk"]]),
            )
        )
    return {reference: held(facts[reference]) for reference in references}


def held_against(case_reference: str) -> Held:
    return held_against_many([case_reference])[case_reference]


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
