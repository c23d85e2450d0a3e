"""Several penalties in one payment: each line quoted again by the one rule before any card
page, written to ECS as its own payment on its own case, refundable on its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from penaltypay.adapters.factories import ecs_for_lookups, payment_provider
from penaltypay.cases.domain import COURT
from penaltypay.cases.store import local_case
from penaltypay.ecs.models import OutboxEvent
from penaltypay.exceptions.queue import open_exceptions
from penaltypay.payments import checkout
from penaltypay.payments.models import Payment, PaymentLine
from penaltypay.payments.refund_rules import RefundRuleBroken
from penaltypay.payments.refunds import approve_refund, refundable_by_line, remaining_refundable, request_refund
from penaltypay.payments.settlement import refresh_payment
from tests.payments.test_refunds import deliver, ledger

pytestmark = pytest.mark.django_db(transaction=True)

SUCCESS_CARD = "4444333322221111"


@pytest.fixture
def client(provider):
    return payment_provider()


@pytest.fixture
def three(put_case, today):
    """A plain 7A, another 7A on the same vehicle, and a second vehicle's penalty (reduction over)."""
    return [
        put_case(reference="72000001", vrm="FL01EET"),
        put_case(reference="72000002", vrm="FL01EET"),
        put_case(reference="72000003", vrm="FL02EET", reduction_deadline=today - timedelta(days=1)),
    ]


def seen(cases):
    return [(case, checkout.quote(case).due.total_pence) for case in cases]


def pay_basket(lines, client, *, owner="keeper-1", payer_reference=""):
    return checkout.check_out_basket(
        lines,
        checkout.Payer.keeper(owner),
        email="fleet@example.com",
        language="en",
        payer_reference=payer_reference,
        return_url_for=lambda payment: f"http://testserver/pay/return/{payment.id}",
        client=client,
        source=ecs_for_lookups(),
    )


def test_one_payment_pays_every_line_and_ecs_holds_one_payment_per_case(three, client, provider, ecs, clock):
    outcome = pay_basket(seen(three), client, payer_reference="PO 4471")

    assert isinstance(outcome, checkout.Started) and outcome.next_url
    payment = outcome.payment
    assert payment.amount_pence == 4000 + 4000 + 8000 and payment.payer_reference == "PO 4471"
    assert [(line.case_reference, line.amount_pence) for line in payment.lines.all()] == [
        ("72000001", 4000),
        ("72000002", 4000),
        ("72000003", 8000),
    ]
    # Each penalty is held while the card page is open: nobody starts another payment for one.
    other = checkout.check_out(
        three[1],
        checkout.Payer.keeper("someone-else"),
        email="",
        language="en",
        return_url_for=lambda p: "http://testserver/x",
        client=client,
    )
    assert isinstance(other, checkout.PaidElsewhere)

    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    refresh_payment(payment, client, source="return")
    deliver(ecs, clock)

    for case, amount in zip(three, (4000, 4000, 8000), strict=True):
        assert ledger(ecs, case) == [("PAYMENT", payment.reference, amount)]
    payment.refresh_from_db()
    assert payment.ecs_recorded_at is not None
    assert not PaymentLine.objects.filter(live=True).exists()
    assert all(checkout.quote(local_case(case.reference, case.vrm)).due.total_pence == 0 for case in three)


def test_a_line_that_changed_is_shown_before_any_card_page(three, client, ecs, today):
    lines = seen(three)
    ecs.put_case(replace(three[1], status=COURT))  # ECS closed it since it was added
    ecs.put_case(replace(three[0], reduction_deadline=today - timedelta(days=1)))  # and this reduction ended

    outcome = pay_basket(lines, client)

    assert isinstance(outcome, checkout.BasketChanged)
    assert {(c.case.reference, c.seen_pence, c.now_pence, c.reason) for c in outcome.changes} == {
        ("72000001", 4000, 8000, "amount"),
        ("72000002", 4000, None, "court"),
    }
    assert not Payment.objects.exists()  # nothing started, nothing taken


def test_a_line_someone_else_is_paying_now_is_shown_and_nothing_starts(three, client, ecs):
    other = checkout.check_out(
        three[2],
        checkout.Payer.keeper("someone-else"),
        email="",
        language="en",
        return_url_for=lambda p: "http://testserver/x",
        client=client,
    )
    assert isinstance(other, checkout.Started)
    outcome = pay_basket(seen(three), client)
    assert isinstance(outcome, checkout.BasketChanged)
    assert [(c.case.reference, c.reason) for c in outcome.changes] == [("72000003", "being-paid")]
    assert Payment.objects.count() == 1


def test_one_line_refunded_reaches_ecs_on_its_case_only(three, client, provider, ecs, clock):
    payment = pay_basket(seen(three), client).payment
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    refresh_payment(payment, client, source="return")
    deliver(ecs, clock)
    with pytest.raises(RefundRuleBroken, match="which penalty"):
        request_refund(payment.reference, 1000, "overpaid", "", by="fin.a")
    with pytest.raises(RefundRuleBroken, match="£40 or less"):
        request_refund(payment.reference, 4001, "overpaid", "", by="fin.a", case_reference="72000002")
    refund = request_refund(payment.reference, 4000, "cancelled", "", by="fin.a", case_reference="72000002")
    assert approve_refund(refund.reference, by="fin.b", note="", client=client).status == "success"
    deliver(ecs, clock)

    assert ledger(ecs, three[1]) == [("PAYMENT", payment.reference, 4000), ("REFUND", refund.reference, 4000)]
    assert ledger(ecs, three[0]) == [("PAYMENT", payment.reference, 4000)]
    assert ledger(ecs, three[2]) == [("PAYMENT", payment.reference, 8000)]
    assert refundable_by_line(payment) == {"72000001": 4000, "72000002": 0, "72000003": 8000}
    due = {case.reference: checkout.quote(local_case(case.reference, case.vrm)).due.total_pence for case in three}
    assert due == {"72000001": 0, "72000002": 4000, "72000003": 0}  # due again on that penalty alone


def test_a_line_ecs_refuses_is_the_only_one_on_the_exceptions_queue(three, client, provider, ecs, clock):
    payment = pay_basket(seen(three), client).payment
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    ecs.put_case(replace(three[0], status=COURT))  # closed after the payment, before ECS heard
    refresh_payment(payment, client, source="return")
    deliver(ecs, clock)

    assert ledger(ecs, three[1]) == [("PAYMENT", payment.reference, 4000)]
    assert ledger(ecs, three[2]) == [("PAYMENT", payment.reference, 8000)]
    refused = [item for item in open_exceptions() if item.kind == "ecs-refused"]
    assert [(item.case_reference, item.payment_reference, item.money_pence) for item in refused] == [
        ("72000001", payment.reference, 4000)
    ]
    assert OutboxEvent.objects.filter(status=OutboxEvent.EXCEPTION).count() == 1
    assert remaining_refundable(payment, "72000001") == 4000


def _basket_row(amounts: list[int]) -> Payment:
    payment = Payment(
        reference=f"PP-HYP-{Payment.objects.count():04d}",
        first_case_reference="73000000",
        case_type="7A",
        amount_pence=sum(amounts),
        description="basket",
        status="success",
    )
    payment.lines_given = True
    payment.save()
    PaymentLine.objects.bulk_create(
        PaymentLine(
            payment=payment, position=n, case_reference=f"7300{n:04d}", case_type="7A", amount_pence=a, live=False
        )
        for n, a in enumerate(amounts)
    )
    return payment


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    amounts=st.lists(st.integers(1, 20_000), min_size=2, max_size=6),
    asks=st.lists(st.tuples(st.integers(0, 5), st.integers(1, 25_000)), max_size=12),
)
def test_no_line_is_ever_refunded_more_than_it_paid(amounts, asks):
    payment = _basket_row(amounts)
    promised = [0] * len(amounts)
    for index, amount in asks:
        line = index % len(amounts)
        try:
            request_refund(payment.reference, amount, "other", "", by="fin.a", case_reference=f"7300{line:04d}")
            promised[line] += amount
        except RefundRuleBroken:
            pass
    assert all(promised[n] <= amounts[n] for n in range(len(amounts)))
    assert payment.amount_pence == sum(payment.lines.values_list("amount_pence", flat=True))
    assert remaining_refundable(payment) == sum(amounts) - sum(promised)


def test_the_reconciliation_matches_one_provider_payment_to_its_ecs_lines(
    three, client, provider, ecs, clock, today, settings
):
    from tests.ecs_helpers import reconcile

    settings.ECS_RESPECT_BATCH_WINDOW = False  # whatever the hour the suite runs at (its own test elsewhere)

    payment = pay_basket(seen(three), client).payment
    provider.complete(payment.provider_payment_id, SUCCESS_CARD)
    refresh_payment(payment, client, source="return")
    deliver(ecs, clock)
    refund = request_refund(payment.reference, 1500, "overpaid", "", by="fin.a", case_reference="72000003")
    approve_refund(refund.reference, by="fin.b", note="", client=client)
    deliver(ecs, clock)

    run = reconcile(today, ecs)

    assert run.status == "balanced", list(run.items.values_list("cls", "key", "ecs_pence"))
    items = {item.key: item for item in run.items.all()}
    assert (items[payment.reference].provider_pence, items[payment.reference].ecs_pence) == (16000, 16000)
    assert (items[refund.reference].case_reference, items[refund.reference].ecs_pence) == ("72000003", -1500)
    assert run.cases_read == 3  # every penalty's ledger, not only the first
    assert (
        run.provider_pence == run.penaltypay_pence == run.ecs_pence == sum(item.ecs_pence for item in run.items.all())
    )
