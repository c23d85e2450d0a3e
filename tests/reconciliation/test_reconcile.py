"""A day reconciled against the sandbox provider and the ECS simulator: each class made
the way it happens in life."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.adapters.factories import payment_provider
from penaltypay.cases.domain import COURT
from penaltypay.ecs.models import OutboxEvent
from penaltypay.exceptions.queue import open_exceptions
from penaltypay.payments.models import Payment
from penaltypay.payments.refunds import approve_refund, request_refund
from penaltypay.reconciliation.models import LedgerRead, ReconciliationRun
from penaltypay.reconciliation.run import reconcile_day
from tests.ecs_helpers import deliver, reconcile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def day(today):
    return today


def classes(run) -> dict[str, str]:
    return dict(run.items.values_list("key", "cls"))


def test_a_day_delivered_to_ecs_balances(day, reduced_case, pay_online, ecs, clock):
    payment = pay_online(reduced_case)
    deliver(ecs, clock)
    run = reconcile(day, ecs)
    assert run.status == "balanced" and classes(run) == {payment.reference: "matched"}
    assert run.provider_pence == run.penaltypay_pence == run.ecs_pence == 4000
    assert run.cases_read == 1


def test_not_yet_in_ecs_is_in_flight_then_missing(day, reduced_case, pay_online, ecs, settings):
    payment = pay_online(reduced_case)
    assert classes(reconcile(day, ecs)) == {payment.reference: "in_flight"}
    OutboxEvent.objects.update(
        created_at=timezone.now() - timedelta(minutes=settings.EXCEPTION_STUCK_AFTER_MINUTES + 1)
    )
    run = reconcile(day, ecs)
    assert run.status == "differences" and classes(run) == {payment.reference: "missing_in_ecs"}
    assert run.previous is not None  # each run kept, compared with the one before


def test_a_payment_ecs_refused_is_an_exception_and_its_refund_reconciles(day, put_case, pay_online, ecs, clock):
    case = put_case(reference="70000321", vrm="RC32ONE")
    payment = pay_online(case)
    ecs.put_case(replace(case, status=COURT))
    deliver(ecs, clock)
    assert classes(reconcile(day, ecs)) == {payment.reference: "exception"}
    refund = request_refund(payment.reference, 4000, "case-closed", "", by="fin.a")
    approve_refund(refund.reference, by="fin.b", note="", client=payment_provider())
    run = reconcile(day, ecs)
    assert classes(run) == {payment.reference: "matched", refund.reference: "matched"}
    assert run.status == "balanced" and run.provider_pence == run.penaltypay_pence == 0


def test_money_taken_that_we_never_recorded_is_an_exception(day, put_case, provider, ecs):
    case = put_case(reference="70000432", vrm="NR43ONE")
    client = payment_provider()
    taken = client.create_payment(
        amount=2500,
        reference="SOMEONE-ELSE-1",
        description="x",
        return_url="http://127.0.0.1/x",
        language="en",
        metadata={"case_reference": case.reference},
    )
    provider.complete(taken.payment_id, "4444333322221111")
    run = reconcile(day, ecs)
    item = run.items.get()
    assert (item.cls, item.provider_pence, item.case_reference) == ("missing_in_penaltypay", 2500, case.reference)
    queued = open_exceptions(kind="not-recorded")
    assert [(i.case_reference, i.money_pence) for i in queued] == [(case.reference, 2500)]
    from penaltypay.exceptions.queue import resolve_unrecorded

    resolve_unrecorded(item.key, by="fin.a", note="refunded at the provider, ref R-9")
    assert open_exceptions(kind="not-recorded") == []


def test_a_payment_of_ours_the_provider_took_is_adopted(day, reduced_case, provider, ecs):
    payment = Payment.objects.create(
        reference="PP-ADOP-T001",
        first_case_reference=reduced_case.reference,
        case_type="7A",
        amount_pence=4000,
        description="x",
        status="abandoned",
    )
    client = payment_provider()
    taken = client.create_payment(
        amount=4000, reference=payment.reference, description="x", return_url="http://127.0.0.1/x", language="en"
    )
    provider.complete(taken.payment_id, "4444333322221111")
    run = reconcile(day, ecs)
    payment.refresh_from_db()
    assert payment.status == "success" and OutboxEvent.objects.filter(payment_reference=payment.reference).exists()
    assert classes(run) == {payment.reference: "in_flight"}


def test_recorded_by_us_but_not_at_the_provider(day, reduced_case, ecs, provider):
    Payment.objects.create(
        reference="PP-GHOS-T001",
        first_case_reference=reduced_case.reference,
        case_type="7A",
        amount_pence=4000,
        description="x",
        status="success",
        provider_payment_id="nosuchpayment",
    )
    assert classes(reconcile(day, ecs)) == {"PP-GHOS-T001": "missing_at_provider"}


def test_amounts_that_differ(day, reduced_case, pay_online, ecs, clock):
    payment = pay_online(reduced_case)
    deliver(ecs, clock)
    Payment.objects.filter(pk=payment.pk).update(amount_pence=3999)
    assert classes(reconcile(day, ecs)) == {payment.reference: "amount_differs"}


def test_a_payment_taken_elsewhere_is_information(day, reduced_case, pay_online, ecs, clock, ecs_client):
    payment = pay_online(reduced_case)
    deliver(ecs, clock)
    ecs_client.record_payment(reduced_case.reference, "POST-20261128-1", 1000, datetime.now(UTC), "POST", "cheque")
    run = reconcile(day, ecs)
    assert classes(run) == {payment.reference: "matched", "POST-20261128-1": "ecs_other_channel"}
    assert run.status == "balanced" and run.ecs_pence == 5000


def test_an_unreachable_ecs_is_incomplete_never_balanced_and_the_run_resumes(day, reduced_case, pay_online, ecs):
    pay_online(reduced_case)
    run = reconcile_day(
        day,
        provider=payment_provider(),
        ecs_factory=lambda: EcsClient("http://127.0.0.1:9/ecs", timeout=0.5),
        trigger="command",
    )
    assert run.status == "incomplete" and "ECS could not be read" in run.problem and run.items.count() == 0
    resumed = reconcile(day, ecs, resume=True)
    assert resumed.pk == run.pk and resumed.status == "balanced"
    assert LedgerRead.objects.filter(run=resumed).count() == 1


def test_ecs_is_not_read_in_its_batch_window(day, reduced_case, pay_online, ecs, settings):
    from penaltypay.kernel.clock import LONDON

    settings.ECS_RESPECT_BATCH_WINDOW = True
    pay_online(reduced_case)
    inside = datetime.combine(day, datetime.min.time(), tzinfo=LONDON).replace(hour=1)
    run = reconcile(day, ecs, now=inside)
    assert run.status == "incomplete" and "batch window" in run.problem
    assert LedgerRead.objects.count() == 0  # ECS was not asked


def test_an_unreachable_provider_is_incomplete(day, reduced_case, ecs, settings):
    settings.PAY_API_URL = "http://127.0.0.1:9"
    run = reconcile(day, ecs)
    assert run.status == "incomplete" and "provider could not be read" in run.problem


def test_the_command_prints_the_contract_and_exits_by_status(day, reduced_case, pay_online, ecs, settings, capsys):
    settings.ECS_URL = ecs.url
    payment = pay_online(reduced_case)
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(days=1))
    with pytest.raises(SystemExit) as exited:
        call_command("reconcile", "--date", day.isoformat(), "--json")
    assert exited.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["date"] == day.isoformat() and out["status"] == "differences"
    assert out["totals"] == {
        "provider_pence": 4000,
        "penaltypay_pence": 4000,
        "ecs_pence": 0,
        # No statement loaded: the bank is not checked, but the provider's settlement is known.
        "bank_pence": 0,
        "fees_pence": 14,
        "settled_net_pence": 3986,
    }
    assert out["bank_loaded"] is False
    assert out["counts"]["missing_in_ecs"] == 1 and set(out["counts"]) >= {"matched", "in_flight", "exception"}
    assert out["items"] == [
        {
            "class": "missing_in_ecs",
            "kind": "PAYMENT",
            "payment_reference": payment.reference,
            "case_reference": reduced_case.reference,
            "amount_pence": 4000,
            "bank_pence": 0,
            "detail": "",
            "action": out["items"][0]["action"],
        }
    ]
    assert out["items"][0]["action"]
    with pytest.raises(Exception, match="--date must be a date"):
        call_command("reconcile", "--date", "yesterday")
    assert ReconciliationRun.objects.count() == 1
