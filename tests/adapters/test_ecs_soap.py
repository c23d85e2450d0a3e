"""EcsClient against the real ECS simulator over HTTP: every operation, every fault, every transport failure."""

from __future__ import annotations

import socket
import threading
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from penaltypay.adapters.ecs_soap import EcsClient
from penaltypay.cases.domain import OPEN, PAID, PART_PAID, Case
from penaltypay.ecs.errors import (
    CaseClosed,
    CaseNotFound,
    CaseTypeNotSupported,
    EcsConfigurationError,
    EcsError,
    EcsFault,
    EcsInternalError,
    EcsOutcomeUnknown,
    EcsUnreachable,
    EcsValidationError,
    ServiceUnavailable,
    VrmMismatch,
    fault_from_code,
)
from penaltypay.ecs.ports import LedgerEntry, WriteReceipt
from penaltypay.kernel.clock import LONDON
from standins.ecs import EcsSimulator
from tests.conftest import CLIENT_TIMEOUT

# Seeded cases (see standins/src/standins/ecs/seed.py).
REDUCED_7A = ("70000123", "BD51SMR")
ARREARS_7A = ("70000246", "LK68HVW")
PAST_DEADLINE_7A = ("70000369", "YR15TNO")
ARREARS_29KK = ("29000481", "MA17PZL")
PART_PAID_144A = ("14400628", "WP66RTY")
DEADLINE_TODAY_7A = ("70001292", "PO18ZXC")
NOT_PAYABLE_23B = ("23001188", "KT57WQA")


def london(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON)


def pay(ecs_client: EcsClient, reference: str, amount: int, paid_at: datetime, payment_reference: str = "PAY-0001"):
    return ecs_client.record_payment(
        reference, payment_reference, amount, paid_at, "ONLINE", "psp-" + payment_reference
    )


def a_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- reads ------------------------------------------------------------------------------------------


def test_get_case_maps_every_field(sim, ecs_client):
    case = ecs_client.get_case(*ARREARS_7A)

    # every field (the simulator keeps its own Case type), LastUpdated compared as an instant
    assert asdict(case) == asdict(sim.case(ARREARS_7A[0]))
    assert isinstance(case, Case)
    assert (case.case_type, case.vehicle_make, case.vehicle_colour) == ("7A", "VAUXHALL", "SILVER")
    assert (case.penalty_pence, case.reduced_penalty_pence, case.arrears_pence) == (8000, 4000, 12375)
    assert case.reduction_deadline == sim.today + timedelta(days=25)
    assert case.arrears_from is not None and case.arrears_to is not None and case.arrears_from < case.arrears_to
    assert case.last_updated.tzinfo is not None and case.last_updated.utcoffset() == timedelta(0)


def test_get_case_maps_absent_optional_elements_to_none(ecs_client):
    no_reduction = ecs_client.get_case(*ARREARS_29KK)
    assert no_reduction.reduction_deadline is None
    assert no_reduction.penalty_pence == no_reduction.reduced_penalty_pence == 3000 + 9500 * 3 // 2

    no_arrears = ecs_client.get_case(*REDUCED_7A)
    assert (no_arrears.arrears_pence, no_arrears.arrears_from, no_arrears.arrears_to) == (0, None, None)


def test_get_case_of_a_case_put_through_the_python_api(sim, ecs_client):
    case = Case(
        reference="40012345",
        case_type="144A",
        vrm="AB12CDE",
        vehicle_make="FORD",
        vehicle_colour="BLUE",
        issue_date=date(2026, 1, 5),
        penalty_pence=10000,
        reduced_penalty_pence=5000,
        reduction_deadline=date(2026, 1, 26),
        arrears_pence=0,
        arrears_from=None,
        arrears_to=None,
        pay_by_date=date(2026, 2, 2),
        status=OPEN,
        amount_paid_pence=0,
        last_updated=datetime(2026, 1, 5, 6, 0, tzinfo=UTC),
    )
    sim.put_case(case)

    assert ecs_client.get_case("40012345", "AB12CDE") == case


def test_get_case_ledger_is_empty_for_a_case_without_money(ecs_client):
    assert ecs_client.get_case_ledger(REDUCED_7A[0]) == []


def test_get_case_ledger_lists_payments_and_refunds_oldest_first(ecs_client, sim):
    reference = PART_PAID_144A[0]
    paid_at = london(sim.today, 10, 15)
    pay(ecs_client, reference, 3000, paid_at, "PAY-0042")
    ecs_client.record_refund(reference, "PAY-0042", "REF-0007", 1000, paid_at + timedelta(hours=2))

    ledger = ecs_client.get_case_ledger(reference)

    assert [(e.kind, e.payment_reference, e.refund_reference, e.amount_pence) for e in ledger] == [
        ("PAYMENT", "OPENING-14400628", None, 2000),  # the seeded phone payment
        ("PAYMENT", "PAY-0042", None, 3000),
        ("REFUND", "PAY-0042", "REF-0007", 1000),
    ]
    assert all(isinstance(e, LedgerEntry) for e in ledger)
    assert ledger[1].effective_at == paid_at and ledger[1].channel == "ONLINE"
    assert ledger[2].effective_at == paid_at + timedelta(hours=2)
    assert ledger[2].channel == "ONLINE"  # a refund goes back the way the money came
    assert all(e.recorded_at.tzinfo is not None and e.effective_at.tzinfo is not None for e in ledger)
    assert len({e.receipt_number for e in ledger}) == 3


# --- writes and the status ECS derives from them ----------------------------------------------------


def test_record_payment_of_the_reduced_amount_in_time_pays_the_case(ecs_client, sim):
    receipt = pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9))

    assert isinstance(receipt, WriteReceipt)
    assert receipt.case_status == PAID and receipt.receipt_number
    case = ecs_client.get_case(*REDUCED_7A)
    assert (case.status, case.amount_paid_pence) == (PAID, 4000)


def test_last_updated_moves_on_every_write(ecs_client, sim):
    before = ecs_client.get_case(*REDUCED_7A).last_updated
    pay(ecs_client, REDUCED_7A[0], 1000, london(sim.today, 9))
    after_payment = ecs_client.get_case(*REDUCED_7A).last_updated
    ecs_client.record_refund(REDUCED_7A[0], "PAY-0001", "REF-0001", 1000, london(sim.today, 10))
    after_refund = ecs_client.get_case(*REDUCED_7A).last_updated

    assert before < after_payment <= after_refund
    assert after_refund - before < timedelta(days=30)


def test_part_payments_make_the_case_part_paid_until_covered(ecs_client, sim):
    reference = REDUCED_7A[0]
    assert pay(ecs_client, reference, 1500, london(sim.today, 9), "PAY-A").case_status == PART_PAID
    assert pay(ecs_client, reference, 2500, london(sim.today, 10), "PAY-B").case_status == PAID
    assert ecs_client.get_case(*REDUCED_7A).amount_paid_pence == 4000


def test_arrears_are_part_of_what_is_due(ecs_client, sim):
    reference = ARREARS_7A[0]
    assert pay(ecs_client, reference, 4000, london(sim.today, 9), "PAY-A").case_status == PART_PAID
    assert pay(ecs_client, reference, 12375, london(sim.today, 9, 5), "PAY-B").case_status == PAID


def test_after_the_reduction_deadline_the_full_penalty_is_due(ecs_client, sim):
    reference = PAST_DEADLINE_7A[0]
    assert pay(ecs_client, reference, 4000, london(sim.today, 9), "PAY-A").case_status == PART_PAID
    assert pay(ecs_client, reference, 4000, london(sim.today, 9, 1), "PAY-B").case_status == PAID


def test_paid_at_decides_the_amount_due_on_the_deadline_day_in_london_time(ecs_client, sim):
    reference = DEADLINE_TODAY_7A[0]
    # Any time on the deadline day itself is in time.
    assert pay(ecs_client, reference, 4000, london(sim.today, 23, 30), "PAY-A").case_status == PAID

    ecs_client.record_refund(reference, "PAY-A", "REF-A", 4000, london(sim.today + timedelta(days=1), 9))
    assert ecs_client.get_case(*DEADLINE_TODAY_7A).status == OPEN
    # Just after midnight the reduction has gone.
    assert (
        pay(ecs_client, reference, 4000, london(sim.today + timedelta(days=1), 0, 1), "PAY-B").case_status == PART_PAID
    )


def test_paid_at_with_a_utc_offset_is_judged_by_its_london_date(ecs_client, sim):
    # A 7A issued in June: £40 until 14 July (33 days), during British Summer Time.
    sim.put_case(
        replace(
            sim.case(REDUCED_7A[0]),
            issue_date=date(2026, 6, 11),
            reduction_deadline=date(2026, 7, 14),
            pay_by_date=date(2026, 8, 11),
            last_updated=None,
        )
    )
    # 23:30 UTC on 14 July is 00:30 BST on 15 July: too late for the reduction.
    late = datetime(2026, 7, 14, 23, 30, tzinfo=UTC)
    assert pay(ecs_client, REDUCED_7A[0], 4000, late).case_status == PART_PAID


def test_record_payment_is_not_idempotent(ecs_client, sim):
    reference = REDUCED_7A[0]
    first = pay(ecs_client, reference, 4000, london(sim.today, 9), "PAY-SAME")
    second = pay(ecs_client, reference, 4000, london(sim.today, 9), "PAY-SAME")

    assert first.receipt_number != second.receipt_number
    ledger = ecs_client.get_case_ledger(reference)
    assert [e.payment_reference for e in ledger] == ["PAY-SAME", "PAY-SAME"]
    assert ecs_client.get_case(*REDUCED_7A).amount_paid_pence == 8000  # paid twice: an over-payment ECS accepts


def test_record_refund_is_not_idempotent_and_reopens_the_case(ecs_client, sim):
    reference = REDUCED_7A[0]
    pay(ecs_client, reference, 4000, london(sim.today, 9), "PAY-1")
    first = ecs_client.record_refund(reference, "PAY-1", "REF-1", 1000, london(sim.today, 11))
    second = ecs_client.record_refund(reference, "PAY-1", "REF-1", 1000, london(sim.today, 11))

    assert first.receipt_number != second.receipt_number
    assert second.case_status == PART_PAID
    assert [e.kind for e in ecs_client.get_case_ledger(reference)] == ["PAYMENT", "REFUND", "REFUND"]
    assert ecs_client.record_refund(reference, "PAY-1", "REF-2", 2000, london(sim.today, 12)).case_status == OPEN
    assert ecs_client.get_case(*REDUCED_7A).amount_paid_pence == 0


def test_a_paid_case_accepts_an_over_payment(ecs_client, sim):
    receipt = pay(ecs_client, "70000734", 4000, london(sim.today, 9))
    assert receipt.case_status == PAID
    assert sim.case("70000734").amount_paid_pence == 8000


def test_concurrent_writes_through_one_client_all_land_once(ecs_client, sim):
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            pay(ecs_client, ARREARS_29KK[0], 100, london(sim.today, 9), f"PAY-{n:03d}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    ledger = ecs_client.get_case_ledger(ARREARS_29KK[0])
    assert sorted(e.payment_reference for e in ledger) == [f"PAY-{n:03d}" for n in range(8)]
    assert len({e.receipt_number for e in ledger}) == 8


# --- faults, each as its own type ---------------------------------------------------------------------


def test_unknown_reference_is_case_not_found(ecs_client):
    with pytest.raises(CaseNotFound) as caught:
        ecs_client.get_case("99999999", "AB12CDE")
    error = caught.value
    assert (error.code, error.retryable, error.outcome_known) == ("CASE_NOT_FOUND", False, True)
    assert (error.operation, error.reference) == ("GetCase", "99999999")


def test_wrong_mark_is_vrm_mismatch_and_never_echoes_the_mark(ecs_client):
    with pytest.raises(VrmMismatch) as caught:
        ecs_client.get_case(REDUCED_7A[0], "ZZ99ZZZ")
    assert caught.value.code == "VRM_MISMATCH" and not caught.value.retryable
    assert "ZZ99ZZZ" not in str(caught.value) and "BD51SMR" not in str(caught.value)


@pytest.mark.parametrize("reference", ["70000857", "29000962", "70001075"])  # debt recovery, court, no payment
def test_payment_on_a_closed_case_is_case_closed(ecs_client, sim, reference):
    with pytest.raises(CaseClosed) as caught:
        pay(ecs_client, reference, 4000, london(sim.today, 9))
    assert (caught.value.code, caught.value.retryable, caught.value.outcome_known) == ("CASE_CLOSED", False, True)
    assert sim.ledger(reference) == []


def test_payment_on_an_unsupported_case_type_is_refused(ecs_client, sim):
    with pytest.raises(CaseTypeNotSupported) as caught:
        pay(ecs_client, NOT_PAYABLE_23B[0], 10000, london(sim.today, 9))
    assert caught.value.code == "CASE_TYPE_NOT_SUPPORTED" and not caught.value.retryable


def test_refund_of_an_unknown_payment_is_a_validation_error(ecs_client, sim):
    with pytest.raises(EcsValidationError) as caught:
        ecs_client.record_refund(REDUCED_7A[0], "PAY-NEVER", "REF-1", 1000, london(sim.today, 9))
    assert (caught.value.code, caught.value.retryable, caught.value.outcome_known) == ("VALIDATION_ERROR", False, True)


def test_refund_beyond_the_payment_is_a_validation_error(ecs_client, sim):
    pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9), "PAY-1")
    with pytest.raises(EcsValidationError):
        ecs_client.record_refund(REDUCED_7A[0], "PAY-1", "REF-1", 4001, london(sim.today, 10))


def test_a_schema_breaking_request_is_a_validation_error(ecs_client):
    with pytest.raises(EcsValidationError) as caught:
        ecs_client.get_case(REDUCED_7A[0], "bd51 smr")  # ECS wants upper case, no spaces
    assert "bd51 smr" not in str(caught.value)


def test_injected_service_unavailable_is_retryable_with_known_outcome(ecs_client, sim):
    sim.set_faults(fault_for_case={REDUCED_7A[0]: "SERVICE_UNAVAILABLE"})
    with pytest.raises(ServiceUnavailable) as caught:
        pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9))
    assert (caught.value.retryable, caught.value.outcome_known) == (True, True)
    assert sim.ledger(REDUCED_7A[0]) == []
    ecs_client.get_case(*ARREARS_7A)  # other cases are unaffected


def test_batch_window_answers_service_unavailable_to_everything(ecs_client, sim):
    sim.set_faults(unavailable=True)
    with pytest.raises(ServiceUnavailable):
        ecs_client.get_case_ledger(ARREARS_7A[0])
    sim.set_faults()
    assert ecs_client.get_case_ledger(ARREARS_7A[0]) == []


def test_injected_internal_error_is_retryable_and_must_be_checked(ecs_client, sim):
    sim.set_faults(fault_for_case={REDUCED_7A[0]: "INTERNAL_ERROR"})
    with pytest.raises(EcsInternalError) as caught:
        ecs_client.get_case(*REDUCED_7A)
    assert caught.value.code == "INTERNAL_ERROR"
    assert (caught.value.retryable, caught.value.outcome_known) == (True, False)


@pytest.mark.parametrize(
    "code, cls",
    [
        ("CASE_NOT_FOUND", CaseNotFound),
        ("VRM_MISMATCH", VrmMismatch),
        ("CASE_CLOSED", CaseClosed),
        ("CASE_TYPE_NOT_SUPPORTED", CaseTypeNotSupported),
        ("VALIDATION_ERROR", EcsValidationError),
        ("SERVICE_UNAVAILABLE", ServiceUnavailable),
        ("INTERNAL_ERROR", EcsInternalError),
    ],
)
def test_every_fault_code_reaches_the_client_as_its_type(ecs_client, sim, code, cls):
    sim.set_faults(fault_for_case={REDUCED_7A[0]: code})
    with pytest.raises(cls) as caught:
        ecs_client.get_case_ledger(REDUCED_7A[0])
    assert caught.value.code == code and caught.value.message
    assert fault_from_code(code, "x").__class__ is cls


def test_fault_from_code_with_an_unknown_code_is_a_generic_fault_of_unknown_outcome():
    fault = fault_from_code("NEW_CODE_FROM_2030", "something")
    assert isinstance(fault, EcsFault) and fault.code == "NEW_CODE_FROM_2030"
    assert (fault.retryable, fault.outcome_known) == (False, False)


# --- transport failures ---------------------------------------------------------------------------------


def test_timeout_after_commit_is_outcome_unknown_and_the_write_took_effect(ecs_client, sim):
    sim.set_faults(timeout_after_commit=1.0, hang_seconds=5)
    with pytest.raises(EcsOutcomeUnknown) as caught:
        pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9), "PAY-LOST")
    assert (caught.value.retryable, caught.value.outcome_known) == (True, False)

    assert [e.payment_reference for e in sim.ledger(REDUCED_7A[0])] == ["PAY-LOST"]
    sim.set_faults()
    # The ledger read - the ICD's only way to find out - shows the payment is there.
    assert [e.payment_reference for e in ecs_client.get_case_ledger(REDUCED_7A[0])] == ["PAY-LOST"]
    assert ecs_client.get_case(*REDUCED_7A).status == PAID


def test_timeout_after_commit_does_not_affect_reads(ecs_client, sim):
    sim.set_faults(timeout_after_commit=1.0, hang_seconds=5)
    assert ecs_client.get_case(*REDUCED_7A).reference == REDUCED_7A[0]


def test_reset_after_commit_is_outcome_unknown_and_the_write_took_effect(ecs_client, sim):
    sim.set_faults(reset_after_commit=1.0)
    with pytest.raises(EcsOutcomeUnknown):
        pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9), "PAY-RST")
    assert [e.payment_reference for e in sim.ledger(REDUCED_7A[0])] == ["PAY-RST"]


def test_reset_before_commit_is_outcome_unknown_and_nothing_was_written(ecs_client, sim):
    sim.set_faults(reset_before_commit=1.0)
    with pytest.raises(EcsOutcomeUnknown):
        pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9))
    assert sim.ledger(REDUCED_7A[0]) == []


def test_outage_closing_the_connection_is_outcome_unknown(ecs_client, sim):
    sim.set_faults(outage=True)
    with pytest.raises(EcsOutcomeUnknown):
        pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9))
    with pytest.raises(EcsOutcomeUnknown):
        ecs_client.get_case(*REDUCED_7A)
    assert sim.ledger(REDUCED_7A[0]) == []
    sim.set_faults()
    assert ecs_client.get_case(*REDUCED_7A).reference == REDUCED_7A[0]  # recovers on the same ecs_client


def test_http_500_without_a_fault_is_outcome_unknown(ecs_client, sim):
    sim.set_faults(http_500_without_fault=1.0)
    with pytest.raises(EcsOutcomeUnknown):
        pay(ecs_client, REDUCED_7A[0], 4000, london(sim.today, 9))
    assert sim.ledger(REDUCED_7A[0]) == []


def test_latency_beyond_the_timeout_is_outcome_unknown(ecs_client, sim):
    sim.set_faults(latency_ms=int(CLIENT_TIMEOUT * 1000) + 700)
    with pytest.raises(EcsOutcomeUnknown):
        ecs_client.get_case(*REDUCED_7A)


def test_latency_within_the_timeout_is_fine(ecs_client, sim):
    sim.set_faults(latency_ms=[50, 100])
    assert ecs_client.get_case(*REDUCED_7A).reference == REDUCED_7A[0]


def test_nothing_listening_is_unreachable_with_known_outcome():
    ecs_client = EcsClient(f"http://127.0.0.1:{a_free_port()}/ecs/v1", timeout=CLIENT_TIMEOUT)
    with pytest.raises(EcsUnreachable) as caught:
        ecs_client.record_payment("70000123", "PAY-1", 4000, datetime.now(UTC), "ONLINE", "psp")
    assert (caught.value.retryable, caught.value.outcome_known) == (True, True)


def test_a_stopped_simulator_is_unreachable_even_for_a_client_with_pooled_connections():
    simulator = EcsSimulator()
    url = simulator.start()
    ecs_client = EcsClient(url, timeout=CLIENT_TIMEOUT)
    try:
        ecs_client.get_case(*REDUCED_7A)  # leaves a keep-alive connection in the pool
        simulator.stop()
        with pytest.raises((EcsUnreachable, EcsOutcomeUnknown)):
            ecs_client.get_case(*REDUCED_7A)
        with pytest.raises(EcsUnreachable):  # by now the dead pooled connection is gone
            ecs_client.get_case(*REDUCED_7A)
    finally:
        simulator.stop()
        ecs_client.close()


def test_every_client_error_is_an_ecs_error(ecs_client, sim):
    sim.set_faults(http_500_without_fault=1.0)
    with pytest.raises(EcsError):
        ecs_client.get_case_ledger(REDUCED_7A[0])


# --- configuration and argument checks ----------------------------------------------------------------------


def test_basic_auth_credentials_are_sent():
    simulator = EcsSimulator(username="penaltypay", password="s3cret")
    url = simulator.start()
    try:
        assert EcsClient(url, "penaltypay", "s3cret", timeout=CLIENT_TIMEOUT).get_case(*REDUCED_7A)
        with pytest.raises(EcsConfigurationError) as caught:
            EcsClient(url, "penaltypay", "wrong", timeout=CLIENT_TIMEOUT).get_case(*REDUCED_7A)
        assert "s3cret" not in str(caught.value) and "wrong" not in str(caught.value)
        with pytest.raises(EcsConfigurationError):
            EcsClient(url, timeout=CLIENT_TIMEOUT).get_case(*REDUCED_7A)
    finally:
        simulator.stop()


def test_repr_never_shows_the_password():
    assert "s3cret" not in repr(EcsClient("http://127.0.0.1:1/ecs/v1", "user", "s3cret"))


def test_a_missing_wsdl_is_a_configuration_error(tmp_path, sim):
    ecs_client = EcsClient(sim.url, wsdl_path=str(tmp_path / "missing.wsdl"), timeout=CLIENT_TIMEOUT)
    with pytest.raises(EcsConfigurationError):
        ecs_client.get_case(*REDUCED_7A)


def test_the_zeep_service_is_built_once_and_reused(ecs_client):
    ecs_client.get_case(*REDUCED_7A)
    service = ecs_client._service
    ecs_client.get_case_ledger(REDUCED_7A[0])
    assert ecs_client._service is service


def test_a_naive_paid_at_is_refused_before_anything_is_sent(ecs_client, sim):
    with pytest.raises(ValueError):
        pay(ecs_client, REDUCED_7A[0], 4000, datetime(2026, 1, 1, 9, 0))
    with pytest.raises(ValueError):
        ecs_client.record_refund(REDUCED_7A[0], "PAY-1", "REF-1", 100, datetime(2026, 1, 1, 9, 0))
    with pytest.raises(ValueError):
        pay(ecs_client, REDUCED_7A[0], -1, datetime.now(UTC))
    assert sim.ledger(REDUCED_7A[0]) == []
