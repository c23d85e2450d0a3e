"""`check-integrity` finds what a broken or partial copy would lose; the restore drill
dumps, restores and checks a real copy (PostgreSQL)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from penaltypay.ecs.models import OutboxEvent
from penaltypay.operations.integrity import check_integrity
from penaltypay.operations.restore_drill import DrillRefused, run_drill
from penaltypay.payments.models import Payment
from tests.ecs_helpers import deliver

pytestmark = pytest.mark.django_db(transaction=True)


def failing(checks) -> dict[str, list[str]]:
    return {check.name: check.examples for check in checks if not check.ok}


def test_a_whole_database_passes(reduced_case, pay_online, ecs, clock):
    pay_online(reduced_case)
    deliver(ecs, clock)
    assert failing(check_integrity()) == {}
    out = io.StringIO()
    call_command("check_integrity", "--json", stdout=out)
    assert json.loads(out.getvalue())["ok"] is True


def test_a_payment_that_would_never_reach_ecs_is_found(reduced_case, pay_online):
    payment = pay_online(reduced_case)
    OutboxEvent.objects.filter(payment_reference=payment.reference).delete()  # as if the row was lost
    assert failing(check_integrity()) == {"payments_reach_ecs": [payment.reference]}
    with pytest.raises(SystemExit) as exit_:
        call_command("check_integrity", stdout=io.StringIO())
    assert exit_.value.code == 1


def test_money_that_disagrees_and_orphans_are_found(reduced_case, pay_online):
    payment = pay_online(reduced_case)
    OutboxEvent.objects.filter(payment_reference=payment.reference).update(amount_pence=3999)
    OutboxEvent.objects.create(
        case_reference="70000009",
        kind=OutboxEvent.KIND_PAYMENT,
        payment_reference="PP-NOT-HERE",
        amount_pence=1,
        effective_at=payment.authorised_at,
        next_attempt_at=payment.authorised_at,
        created_at=payment.authorised_at,
    )
    found = failing(check_integrity())
    assert set(found) == {"money_per_day", "no_orphans"}
    assert found["no_orphans"] == ["PP-NOT-HERE"]


@pytest.mark.skipif("connection.vendor == 'postgresql'", reason="on PostgreSQL the drill runs (tests below)")
def test_the_drill_needs_postgresql():
    with pytest.raises(DrillRefused, match="PostgreSQL"):
        run_drill()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the restore drill runs against PostgreSQL")
def test_the_restore_drill_restores_a_copy_that_passes_its_checks(reduced_case, pay_online, ecs, clock):
    pay_online(reduced_case)
    deliver(ecs, clock)
    result = run_drill()
    assert result.ok, result.integrity
    assert result.dump_bytes > 0 and set(result.seconds) == {"dump", "restore", "check"}
    assert {check["name"] for check in result.integrity["checks"]} >= {"migrations_at_head", "payments_reach_ecs"}
    with connection.cursor() as cursor:  # the scratch database is gone
        cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [result.scratch])
        assert cursor.fetchone()[0] == 0


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the restore drill runs against PostgreSQL")
def test_the_drill_fails_when_the_copy_is_not_whole(reduced_case, pay_online):
    payment = pay_online(reduced_case)
    OutboxEvent.objects.filter(payment_reference=payment.reference).delete()
    assert Payment.objects.get().status == "success"
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("restore_drill", "--json", stdout=out)
    assert exit_.value.code == 1
    assert json.loads(out.getvalue())["ok"] is False
