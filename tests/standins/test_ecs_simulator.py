"""The ECS simulator itself, driven with raw HTTP: schema validation, robustness, control API, seed, process."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from standins.ecs import EcsState, FaultPlan, SimFault, amount_due_before_payments
from standins.ecs.model import (
    COURT,
    DEBT_RECOVERY,
    LONDON,
    NO_PAYMENT_REQUIRED,
    OPEN,
    PAID,
    PART_PAID,
    PAYABLE_CASE_TYPES,
)
from standins.ecs.seed import SAMPLE_CASES, describe_seed, seed_cases

REPO = Path(__file__).resolve().parents[2]
# The contract as ECS's owners publish it (copied into docs/contracts/), and the two copies
# that code reads: penaltypay's SOAP adapter and the simulator.
CONTRACT_WSDL = REPO / "docs" / "contracts" / "legacy-ecs" / "enforcement-case-service.wsdl"
WSDL_COPIES = [
    REPO / "penaltypay" / "adapters" / "ecs_soap" / "wsdl" / "enforcement-case-service.wsdl",
    REPO / "standins" / "src" / "standins" / "ecs" / "wsdl" / "enforcement-case-service.wsdl",
]

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ECS = "urn:enforcement-case-system:v1"
NSMAP = {"soap": SOAP, "ecs": ECS}


def envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP}" xmlns:ecs="{ECS}"><soap:Body>{body}</soap:Body></soap:Envelope>'
    ).encode()


def post_soap(sim, payload: bytes, action: str | None = None) -> requests.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if action is not None:
        headers["SOAPAction"] = f'"{action}"'
    return requests.post(sim.url, data=payload, headers=headers, timeout=5)


def fault_of(response: requests.Response) -> tuple[str, str, str]:
    """(faultcode, EcsFault Code, EcsFault Message) of a SOAP fault response."""
    doc = etree.fromstring(response.content)
    fault = doc.find("soap:Body/soap:Fault", NSMAP)
    assert fault is not None, response.text
    return (
        fault.findtext("faultcode"),
        fault.findtext("detail/ecs:EcsFault/ecs:Code", namespaces=NSMAP),
        fault.findtext("detail/ecs:EcsFault/ecs:Message", namespaces=NSMAP),
    )


GET_CASE_OK = envelope(
    "<ecs:GetCase><ecs:CaseReference>70000123</ecs:CaseReference>"
    "<ecs:VehicleRegistrationMark>BD51SMR</ecs:VehicleRegistrationMark></ecs:GetCase>"
)


# --- the contract ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("copy", WSDL_COPIES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_wsdl_the_code_reads_is_a_verbatim_copy_of_the_contract(copy):
    assert copy.read_bytes() == CONTRACT_WSDL.read_bytes()


def test_wsdl_is_served_with_the_address_of_this_server(sim):
    response = requests.get(sim.url + "?wsdl", timeout=5)

    assert response.status_code == 200
    doc = etree.fromstring(response.content)
    address = doc.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address.get("location") == sim.url
    assert doc.find(".//{http://www.w3.org/2001/XMLSchema}schema") is not None


def test_a_valid_raw_request_gets_a_schema_valid_answer(sim):
    response = post_soap(sim, GET_CASE_OK, f"{ECS}#GetCase")

    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
    doc = etree.fromstring(response.content)
    assert doc.findtext("soap:Body/ecs:GetCaseResponse/ecs:Case/ecs:VehicleMake", namespaces=NSMAP) == "FORD"


# --- validation and robustness ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # VRM in lower case with a space
        "<ecs:GetCase><ecs:CaseReference>70000123</ecs:CaseReference>"
        "<ecs:VehicleRegistrationMark>bd51 smr</ecs:VehicleRegistrationMark></ecs:GetCase>",
        # reference not 8 digits
        "<ecs:GetCaseLedger><ecs:CaseReference>7000012</ecs:CaseReference></ecs:GetCaseLedger>",
        # missing element
        "<ecs:GetCase><ecs:CaseReference>70000123</ecs:CaseReference></ecs:GetCase>",
        # negative amount, unknown channel
        "<ecs:RecordPayment><ecs:CaseReference>70000123</ecs:CaseReference><ecs:PaymentReference>P1</ecs:PaymentReference>"
        "<ecs:AmountPence>-5</ecs:AmountPence><ecs:PaidAt>2026-01-01T09:00:00Z</ecs:PaidAt>"
        "<ecs:Channel>FAX</ecs:Channel><ecs:PspReference>x</ecs:PspReference></ecs:RecordPayment>",
        # not a date-time
        "<ecs:RecordRefund><ecs:CaseReference>70000123</ecs:CaseReference><ecs:PaymentReference>P1</ecs:PaymentReference>"
        "<ecs:RefundReference>R1</ecs:RefundReference><ecs:AmountPence>5</ecs:AmountPence>"
        "<ecs:RefundedAt>yesterday</ecs:RefundedAt></ecs:RecordRefund>",
        # unknown operation
        "<ecs:DeleteCase><ecs:CaseReference>70000123</ecs:CaseReference></ecs:DeleteCase>",
        # element in no namespace
        "<GetCaseLedger><CaseReference>70000123</CaseReference></GetCaseLedger>",
        # two operations in one body
        "<ecs:GetCaseLedger><ecs:CaseReference>70000123</ecs:CaseReference></ecs:GetCaseLedger>" * 2,
    ],
)
def test_a_schema_invalid_request_is_a_validation_error_fault(sim, body):
    response = post_soap(sim, envelope(body))

    assert response.status_code == 500
    faultcode, code, message = fault_of(response)
    assert (faultcode, code) == ("soap:Client", "VALIDATION_ERROR")
    assert "bd51" not in message.lower()  # the offending value is never echoed back


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\xff\xfe garbage \x80",
        b"<not-closed",
        b"<soap:Envelope xmlns:soap='http://www.w3.org/2003/05/soap-envelope'><soap:Body/></soap:Envelope>",
        b"<x/>",
        f"<soap:Envelope xmlns:soap='{SOAP}'/>".encode(),
        # entity expansion / external entity attempts
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + f"<soap:Envelope xmlns:soap='{SOAP}'><soap:Body>&x;</soap:Body></soap:Envelope>".encode(),
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><d>&b;</d>',
    ],
)
def test_garbage_is_a_validation_error_and_the_server_survives(sim, payload):
    response = post_soap(sim, payload)

    assert response.status_code == 500
    assert fault_of(response)[1] == "VALIDATION_ERROR"
    assert "root:" not in response.text
    assert post_soap(sim, GET_CASE_OK).status_code == 200


def test_a_soap_action_that_contradicts_the_body_is_refused(sim):
    response = post_soap(sim, GET_CASE_OK, f"{ECS}#RecordPayment")
    assert fault_of(response)[1] == "VALIDATION_ERROR"


def test_business_faults_carry_the_right_faultcode(sim):
    not_found = post_soap(
        sim, envelope("<ecs:GetCaseLedger><ecs:CaseReference>99999999</ecs:CaseReference></ecs:GetCaseLedger>")
    )
    assert fault_of(not_found)[:2] == ("soap:Client", "CASE_NOT_FOUND")

    sim.set_faults(unavailable=True)
    unavailable = post_soap(sim, GET_CASE_OK)
    assert unavailable.status_code == 500
    assert fault_of(unavailable)[:2] == ("soap:Server", "SERVICE_UNAVAILABLE")


def test_unknown_paths_and_methods(sim):
    assert requests.get(sim.base_url + "/nowhere", timeout=5).status_code == 404
    assert requests.get(sim.url, timeout=5).status_code == 405
    assert requests.get(sim.control_url + "/nothing", timeout=5).status_code == 404


# --- control API ------------------------------------------------------------------------------------------


def test_health(sim):
    body = requests.get(sim.control_url + "/health", timeout=5).json()
    assert body["status"] == "ok" and body["today"] == sim.today.isoformat()
    assert body["cases"] == len(SAMPLE_CASES) and body["faults"]["unavailable"] is False


def test_ledger_endpoints(sim):
    post_soap(
        sim,
        envelope(
            "<ecs:RecordPayment><ecs:CaseReference>70000123</ecs:CaseReference>"
            "<ecs:PaymentReference>PAY-1</ecs:PaymentReference><ecs:AmountPence>4000</ecs:AmountPence>"
            "<ecs:PaidAt>2026-01-01T09:00:00</ecs:PaidAt><ecs:Channel>ONLINE</ecs:Channel>"
            "<ecs:PspReference>psp-1</ecs:PspReference></ecs:RecordPayment>"
        ),
    )

    one = requests.get(sim.control_url + "/ledger/70000123", timeout=5)
    assert one.status_code == 200
    [entry] = one.json()
    assert (entry["kind"], entry["payment_reference"], entry["amount_pence"], entry["psp_reference"]) == (
        "PAYMENT",
        "PAY-1",
        4000,
        "psp-1",
    )
    # A dateTime without an offset is London wall-clock time (GMT in January).
    assert entry["effective_at"] == "2026-01-01T09:00:00+00:00"

    everything = requests.get(sim.control_url + "/ledger", timeout=5).json()
    assert set(everything) == {ref for ref, _, _ in SAMPLE_CASES}
    assert everything["70000123"] == one.json()
    assert requests.get(sim.control_url + "/ledger/12345678", timeout=5).status_code == 404


def test_put_cases_adds_and_replaces(sim):
    cases = [
        {
            "reference": "40000001",
            "case_type": "29KK",
            "vrm": "AB12CDE",
            "vehicle_make": "FORD",
            "vehicle_colour": "BLUE",
            "issue_date": "2026-03-01",
            "penalty_pence": 15375,
            "arrears_pence": 8250,
            "arrears_from": "2025-06-01",
            "arrears_to": "2026-01-31",
            "pay_by_date": "2026-03-29",
        },
        {
            "reference": "70000123",
            "case_type": "7A",
            "vrm": "BD51SMR",
            "vehicle_make": "FORD",
            "vehicle_colour": "BLUE",
            "issue_date": "2026-03-01",
            "penalty_pence": 8000,
            "reduced_penalty_pence": 4000,
            "reduction_deadline": "2026-04-03",
            "pay_by_date": "2026-05-01",
            "status": "PART_PAID",
            "amount_paid_pence": 1000,
            "last_updated": "2026-03-05T10:00:00+00:00",
        },
    ]
    response = requests.put(sim.control_url + "/cases", json=cases, timeout=5)

    assert response.status_code == 200 and response.json() == {"stored": ["40000001", "70000123"]}
    new = sim.case("40000001")
    assert (new.status, new.reduced_penalty_pence, new.reduction_deadline) == (OPEN, 15375, None)
    assert new.last_updated is not None and new.last_updated.tzinfo is not None
    replaced = sim.case("70000123")
    assert (replaced.status, replaced.amount_paid_pence, replaced.issue_date) == (PART_PAID, 1000, date(2026, 3, 1))
    # Money already paid appears in the ledger, so refunds and statuses stay consistent.
    assert [(e.payment_reference, e.amount_pence) for e in sim.ledger("70000123")] == [("OPENING-70000123", 1000)]
    assert requests.get(sim.control_url + "/cases/40000001", timeout=5).json()["arrears_to"] == "2026-01-31"


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", "not valid JSON"),
        (b'[{"reference": "1"}]', "missing"),
        (
            b'[{"reference": "4000000X", "case_type": "7A", "vrm": "AB1", "vehicle_make": "F", "vehicle_colour": "B",'
            b' "issue_date": "2026-01-01", "penalty_pence": 8000, "pay_by_date": "2026-02-01"}]',
            "8 digits",
        ),
        (
            b'[{"reference": "40000001", "case_type": "7A", "vrm": "AB1", "vehicle_make": "F", "vehicle_colour": "B",'
            b' "issue_date": "2026-01-01", "penalty_pence": 8000, "reduced_penalty_pence": 4000,'
            b' "pay_by_date": "2026-02-01"}]',
            "reduction_deadline",
        ),
        (
            b'[{"reference": "40000001", "case_type": "7A", "vrm": "AB1", "vehicle_make": "F", "vehicle_colour": "B",'
            b' "issue_date": "01/01/2026", "penalty_pence": 8000, "pay_by_date": "2026-02-01"}]',
            "issue_date",
        ),
        (b'[{"reference": "40000001", "colour": "red"}]', "unknown case field"),
    ],
)
def test_put_cases_rejects_bad_input_with_a_message(sim, body, fragment):
    response = requests.put(sim.control_url + "/cases", data=body, timeout=5)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert sim.case("40000001") is None


def test_fault_plan_over_http(sim):
    response = requests.post(
        sim.control_url + "/faults",
        timeout=5,
        json={"latency_ms": [0, 10], "fault_for_case": {"70000123": "INTERNAL_ERROR"}, "reset_after_commit": 0.25},
    )

    assert response.status_code == 200
    assert sim.faults == FaultPlan(
        latency_ms=(0, 10), fault_for_case={"70000123": "INTERNAL_ERROR"}, reset_after_commit=0.25
    )
    assert requests.get(sim.control_url + "/faults", timeout=5).json()["reset_after_commit"] == 0.25
    assert fault_of(post_soap(sim, GET_CASE_OK))[:2] == ("soap:Server", "INTERNAL_ERROR")

    requests.post(sim.control_url + "/faults", json={}, timeout=5)
    assert sim.faults == FaultPlan()
    assert post_soap(sim, GET_CASE_OK).status_code == 200


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"[1, 2", "not valid JSON"),
        (b'{"outage": "yes"}', "outage"),
        (b'{"reset_after_commit": 2}', "probability"),
        (b'{"fault_for_case": {"70000123": "OOPS"}}', "unknown fault code"),
        (b'{"latency_ms": [800, 200]}', "latency_ms"),
        (b'{"explode": true}', "unknown fault setting"),
    ],
)
def test_fault_plan_rejects_bad_input_with_a_message(sim, body, fragment):
    response = requests.post(sim.control_url + "/faults", data=body, timeout=5)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert sim.faults == FaultPlan()


def test_reset_reseeds_and_clears_faults(sim):
    post_soap(
        sim,
        envelope(
            "<ecs:RecordPayment><ecs:CaseReference>70000123</ecs:CaseReference>"
            "<ecs:PaymentReference>PAY-1</ecs:PaymentReference><ecs:AmountPence>4000</ecs:AmountPence>"
            "<ecs:PaidAt>2026-01-01T09:00:00Z</ecs:PaidAt><ecs:Channel>ONLINE</ecs:Channel>"
            "<ecs:PspReference>psp-1</ecs:PspReference></ecs:RecordPayment>"
        ),
    )
    sim.set_faults(outage=True)
    requests.put(
        sim.control_url + "/cases",
        timeout=5,
        json={
            "reference": "40000001",
            "case_type": "7A",
            "vrm": "AB1",
            "vehicle_make": "FORD",
            "vehicle_colour": "RED",
            "issue_date": "2026-01-01",
            "penalty_pence": 8000,
            "pay_by_date": "2026-02-01",
        },
    )

    response = requests.post(sim.control_url + "/reset", timeout=5)

    assert response.status_code == 200
    assert sim.ledger("70000123") == [] and sim.case("70000123").status == OPEN
    assert sim.case("40000001") is None
    assert sim.faults == FaultPlan()

    pinned = requests.post(sim.control_url + "/reset", json={"today": "2026-06-15"}, timeout=5).json()
    assert pinned["today"] == "2026-06-15"
    assert sim.case("70000123").reduction_deadline == date(2026, 7, 5)
    assert requests.post(sim.control_url + "/reset", data=b"{", timeout=5).status_code == 400


def test_receipt_numbers_never_repeat_across_resets(sim):
    def receipt() -> str:
        response = post_soap(
            sim,
            envelope(
                "<ecs:RecordPayment><ecs:CaseReference>70000123</ecs:CaseReference>"
                "<ecs:PaymentReference>PAY-1</ecs:PaymentReference><ecs:AmountPence>100</ecs:AmountPence>"
                "<ecs:PaidAt>2026-01-01T09:00:00Z</ecs:PaidAt><ecs:Channel>ONLINE</ecs:Channel>"
                "<ecs:PspReference>psp-1</ecs:PspReference></ecs:RecordPayment>"
            ),
        )
        return etree.fromstring(response.content).findtext(".//ecs:ReceiptNumber", namespaces=NSMAP)

    first = receipt()
    sim.reset()
    assert receipt() != first


# --- seed ---------------------------------------------------------------------------------------------------


def test_seed_matches_its_description_and_uses_fixed_references():
    today = date(2026, 11, 24)
    cases = seed_cases(today)

    assert [(c.reference, c.vrm) for c in cases] == [(ref, vrm) for ref, vrm, _ in describe_seed()]
    assert len({c.reference for c in cases}) == len(cases)
    assert all(re.fullmatch(r"[0-9]{8}", c.reference) and re.fullmatch(r"[A-Z0-9]{1,7}", c.vrm) for c in cases)
    # References and marks do not move with the date; the dates do.
    later = seed_cases(today + timedelta(days=100))
    assert [(c.reference, c.vrm) for c in later] == [(c.reference, c.vrm) for c in cases]
    assert all(b.issue_date - a.issue_date == timedelta(days=100) for a, b in zip(cases, later, strict=False))


def test_seed_covers_the_scenarios_the_service_must_handle():
    today = date(2026, 6, 30)
    by_ref = {c.reference: c for c in seed_cases(today)}

    reduced = by_ref["70000123"]
    assert (reduced.case_type, reduced.penalty_pence, reduced.reduced_penalty_pence) == ("7A", 8000, 4000)
    assert reduced.reduction_deadline == today + timedelta(days=20) and reduced.arrears_pence == 0
    assert by_ref["70000246"].arrears_pence == 12375 and by_ref["70000246"].arrears_from
    assert by_ref["70000369"].reduction_deadline < today
    kk = by_ref["29000481"]
    assert kk.reduction_deadline is None and kk.penalty_pence == 3000 + kk.arrears_pence * 3 // 2
    assert by_ref["29001406"].penalty_pence == 3000 + by_ref["29001406"].arrears_pence * 2
    a144 = by_ref["14400517"]
    assert (a144.penalty_pence, a144.reduced_penalty_pence) == (10000, 5000)
    assert a144.reduction_deadline - a144.issue_date == timedelta(days=21)
    assert (by_ref["14400628"].status, by_ref["14400628"].amount_paid_pence) == (PART_PAID, 2000)
    assert by_ref["70000734"].status == PAID
    assert by_ref["70000857"].status == DEBT_RECOVERY
    assert by_ref["29000962"].status == COURT
    assert by_ref["70001075"].status == NO_PAYMENT_REQUIRED
    assert by_ref["23001188"].case_type not in PAYABLE_CASE_TYPES
    assert by_ref["70001292"].reduction_deadline == today
    for case in by_ref.values():
        assert case.issue_date <= today and case.pay_by_date > case.issue_date
        assert (case.reduction_deadline is None) == (case.reduced_penalty_pence == case.penalty_pence)
        assert case.last_updated is not None and case.last_updated.tzinfo is not None
        if case.case_type == "144A":
            assert case.arrears_pence == 0


# --- ledger rules (in-process, many cases) -------------------------------------------------------------------

_moments = st.datetimes(
    min_value=datetime(2026, 6, 1), max_value=datetime(2026, 8, 31), timezones=st.sampled_from([UTC, LONDON])
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(st.tuples(st.booleans(), st.integers(1, 6000), _moments), max_size=12))
def test_amount_paid_is_payments_minus_refunds_and_status_follows_the_icd(operations):
    state = EcsState(today=date(2026, 7, 1))
    reference = "70000123"  # £80, £40 until 21 July 2026, no arrears
    case = state.case(reference)
    accepted: list[tuple[bool, int, datetime]] = []

    for n, (is_refund, amount, moment) in enumerate(operations):
        try:
            if is_refund:
                state.record_refund(reference, "PAY-1", f"REF-{n}", amount, moment)
            else:
                state.record_payment(reference, "PAY-1", amount, moment, "ONLINE", "psp")
        except SimFault as fault:
            assert fault.code == "VALIDATION_ERROR"  # only an over-refund may be refused
            continue
        accepted.append((is_refund, amount, moment))

    paid = sum(-a if r else a for r, a, _ in accepted)
    now = state.case(reference)
    assert paid >= 0 and now.amount_paid_pence == paid
    assert len(state.ledger(reference)) == len(accepted)
    payments = [m for r, _, m in accepted if not r]
    if paid == 0:
        assert now.status == OPEN
    else:
        due = amount_due_before_payments(case, max(payments))
        assert now.status == (PAID if paid >= due else PART_PAID)


def test_amount_due_uses_the_london_date():
    case = seed_cases(date(2026, 7, 1))[0]  # reduction deadline 21 July 2026
    assert amount_due_before_payments(case, datetime(2026, 7, 21, 22, 59, tzinfo=UTC)) == 4000
    assert amount_due_before_payments(case, datetime(2026, 7, 21, 23, 0, tzinfo=UTC)) == 8000


# --- as its own process ------------------------------------------------------------------------------------


def test_importing_the_simulator_does_not_import_django():
    code = "import sys, standins.ecs; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_runs_standalone_with_python_dash_m():
    process = subprocess.Popen(
        [sys.executable, "-m", "standins.ecs", "--port", "0", "--log-level", "WARNING", "--today", "2026-07-01"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = re.search(r"(http://\S+/ecs/v1)", first_line).group(1)
        health = requests.get(url.replace("/ecs/v1", "/_control/health"), timeout=5).json()
        assert health["today"] == "2026-07-01"
        assert requests.get(url + "?wsdl", timeout=5).status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)  # waits and closes the pipe
    assert process.returncode == 0  # SIGTERM is a clean stop
