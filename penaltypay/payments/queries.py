"""Questions about our payments that other parts of the service ask (no side effects)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Exists, Min, OuterRef, Q, QuerySet

from penaltypay.ecs.deliveries import deliveries_of_payment_lines
from penaltypay.payments.domain import LIVE_STATUSES, PaymentStatus
from penaltypay.payments.held import Held, PaymentFact, RefundFact, held, share_out
from penaltypay.payments.models import Dispute, Payment, PaymentLine, Refund
from penaltypay.payments.refund_rules import HOLDS_MONEY, PAID_BACK, RefundStatus

_COUNTED = [PaymentStatus.SUCCESS.value, *(s.value for s in LIVE_STATUSES)]


def payments_of_case(reference: str) -> QuerySet[Payment]:
    """Every payment that pays this penalty, alone or in a basket with others, newest first.
    The one answer to "which payments belong to this case?": a basket's payment belongs to
    each of its lines' cases, not only to its first."""
    return payments_of_cases([reference])


def payments_of_cases(references: Iterable[str]) -> QuerySet[Payment]:
    paying = PaymentLine.objects.filter(payment_id=OuterRef("pk"), case_reference__in=list(references))
    return Payment.objects.filter(Exists(paying)).order_by("-created_at", "-reference")


def penalties_of(payment: Payment) -> list[str]:
    """The penalties a payment pays, in the order the payer saw them."""
    lines = PaymentLine.objects.filter(payment=payment).order_by("position")
    return list(lines.values_list("case_reference", flat=True))


def penalties_of_payments(payments: QuerySet[Payment]) -> QuerySet:
    """The penalties some payments pay (a query, to use inside another)."""
    return PaymentLine.objects.filter(payment__in=payments).values_list("case_reference", flat=True).distinct()


def paid_within(outer_case: str, outer_at: str, window: timedelta) -> Exists:
    """Whether a payment for the case named by the outer query's `outer_case` succeeded within
    `window` after its `outer_at` (a look-up, say): for use inside that outer query."""
    return Exists(
        PaymentLine.objects.filter(
            case_reference=OuterRef(outer_case),
            payment__status=PaymentStatus.SUCCESS.value,
            payment__created_at__gte=OuterRef(outer_at),
            payment__created_at__lt=OuterRef(outer_at) + window,
        )
    )


def held_against_many(case_references: Iterable[str]) -> dict[str, Held]:
    """The money held against each case (penaltypay.payments.held), line by line: a basket's
    payment counts on each case only its own line, its own refunds and its share of a lost
    dispute. Five queries at most (one when nothing is paid), whatever the number of cases."""
    references = list(dict.fromkeys(case_references))
    lines = list(
        PaymentLine.objects.filter(case_reference__in=references, payment__status__in=_COUNTED).values(
            "payment_id", "case_reference", "amount_pence", "ecs_recorded_at", "payment__reference", "payment__status"
        )
    )
    if not lines:  # nothing paid or being paid: most keepers' look-ups, and no more queries
        return {reference: held([]) for reference in references}
    payment_ids = {line["payment_id"] for line in lines}
    refunds: dict[tuple, list[RefundFact]] = defaultdict(list)
    for payment_pk, case, amount, status, recorded in Refund.objects.filter(
        payment_id__in=payment_ids, status__in=[s.value for s in HOLDS_MONEY]
    ).values_list("payment_id", "case_reference", "amount_pence", "status", "ecs_recorded_at"):
        refunds[(payment_pk, case)].append(
            RefundFact(amount, succeeded=RefundStatus(status) in PAID_BACK, in_ecs=recorded is not None)
        )
    _lost_disputes(payment_ids, refunds)
    delivered = deliveries_of_payment_lines(
        {line["payment__reference"] for line in lines if line["payment__status"] == PaymentStatus.SUCCESS.value}
    )
    facts: dict[str, list[PaymentFact]] = {reference: [] for reference in references}
    for line in lines:
        delivery = delivered.get((line["payment__reference"], line["case_reference"]))
        succeeded = line["payment__status"] == PaymentStatus.SUCCESS.value
        facts[line["case_reference"]].append(
            PaymentFact(
                line["amount_pence"],
                live=not succeeded,
                succeeded=succeeded,
                in_ecs=line["ecs_recorded_at"] is not None,
                never_to_ecs=delivery is not None and delivery.never_to_ecs,
                refunds=tuple(refunds[(line["payment_id"], line["case_reference"])]),
            )
        )
    return {reference: held(facts[reference]) for reference in references}


def _lost_disputes(payment_ids: set, refunds: dict[tuple, list[RefundFact]]) -> None:
    """A lost dispute is money taken back, told to ECS as a refund on each line: it counts as one."""
    lost = list(
        Dispute.objects.filter(payment_id__in=payment_ids, status="lost").values_list(
            "payment_id", "amount_pence", "ecs_recorded_at"
        )
    )
    if not lost:
        return
    lines: dict[object, list[tuple[str, int]]] = defaultdict(list)
    for payment_pk, case, amount in PaymentLine.objects.filter(payment_id__in={p for p, _, _ in lost}).values_list(
        "payment_id", "case_reference", "amount_pence"
    ):
        lines[payment_pk].append((case, amount))
    for payment_pk, amount, recorded in lost:
        cases = lines[payment_pk]
        for (case, _), part in zip(cases, share_out(amount, [a for _, a in cases]), strict=True):
            if part:
                refunds[(payment_pk, case)].append(RefundFact(part, succeeded=True, in_ecs=recorded is not None))


def held_against(case_reference: str) -> Held:
    return held_against_many([case_reference])[case_reference]


def cases_paid_since(cut: datetime) -> QuerySet:
    """References of cases penaltypay took money for at or after `cut`, or whose payment ECS
    recorded since then: a picture of a case taken at `cut` does not know about that money.
    The nightly extract's no-reopen rule (one definition, used by its ORM and SQL paths)."""
    since_cut = (
        Q(payment__authorised_at__gte=cut)
        | Q(payment__authorised_at__isnull=True, payment__created_at__gte=cut)
        | Q(ecs_recorded_at__gte=cut)
        | Q(payment__ecs_recorded_at__gte=cut)
    )
    # Every penalty a payment paid (a basket's lines too), not only its first.
    return (
        PaymentLine.objects.filter(since_cut, payment__status=PaymentStatus.SUCCESS.value)
        .values_list("case_reference", flat=True)
        .distinct()
    )


def first_paid_of_cases_paid_since(cut: datetime) -> dict[str, datetime]:
    """For each case a successful payment (alone or in a basket) was made for since `cut`:
    when it was first paid (authorised, or made where that is not known)."""
    lines = PaymentLine.objects.filter(payment__status=PaymentStatus.SUCCESS.value)  # a basket's every penalty
    recent = lines.filter(payment__created_at__gte=cut).values_list("case_reference", flat=True).distinct()
    rows = (
        lines.filter(case_reference__in=recent)
        .values("case_reference")
        .annotate(first=Min("payment__authorised_at"), first_created=Min("payment__created_at"))
    )
    return {row["case_reference"]: row["first"] or row["first_created"] for row in rows}


def latest_successful_payment_of_case(reference: str) -> Payment | None:
    return payments_of_case(reference).filter(status=PaymentStatus.SUCCESS.value).first()
