"""SOAP 1.1 for the ECS simulator: the contract's schema, reading requests, building answers."""

from __future__ import annotations

import copy
import re
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from standins.ecs.model import (
    LONDON,
    OPERATIONS,
    SERVER_SIDE_CODES,
    VALIDATION_ERROR,
    Case,
    SimFault,
    SimLedgerEntry,
)
from standins.ecs.state import EcsState

NS = "urn:enforcement-case-system:v1"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
DEFAULT_WSDL_PATH = Path(__file__).resolve().parent / "wsdl" / "enforcement-case-service.wsdl"


class Contract:
    """The WSDL and the XML schema extracted from it, loaded once."""

    def __init__(self, wsdl_path: Path):
        self.wsdl_bytes = wsdl_path.read_bytes()
        wsdl = etree.fromstring(self.wsdl_bytes, _safe_parser())
        schema_el = wsdl.find(f".//{{{XS_NS}}}schema")
        # The schema refers to types as "ecs:..." but the ecs prefix is declared
        # on wsdl:definitions, outside xs:schema. Rebuild the root with every
        # in-scope namespace declared on it so the QName references resolve.
        root = etree.Element(schema_el.tag, attrib=dict(schema_el.attrib), nsmap=schema_el.nsmap)
        for child in schema_el:
            root.append(copy.deepcopy(child))
        self.schema = etree.XMLSchema(root)
        # lxml keeps the last error log on the schema object: not safe to share
        # between threads without a lock.
        self._schema_lock = threading.Lock()

    def schema_errors(self, element: etree._Element) -> list[str]:
        """Human-readable schema violations, free of the offending values.

        lxml's own messages quote the rejected value (which could be a
        vehicle mark), and fault messages end up in the client's logs.
        """
        with self._schema_lock:
            if self.schema.validate(element):
                return []
            problems = []
            for error in self.schema.error_log:
                match = re.search(r"Element '(?:\{[^}]*\})?([^']+)'", error.message)
                where = match.group(1) if match else "request"
                problems.append(f"{where}: {error.type_name}")
            return problems or ["schema violation"]

    def wsdl_for(self, address: str) -> bytes:
        doc = etree.fromstring(self.wsdl_bytes, _safe_parser(keep_comments=True))
        for node in doc.iter(f"{{{WSDL_SOAP_NS}}}address"):
            node.set("location", address)
        return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")


def _safe_parser(keep_comments: bool = False) -> etree.XMLParser:
    # One parser per call (lxml parsers must not be shared between threads),
    # with DTD loading, entity expansion and network access all off.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=not keep_comments,
        remove_pis=True,
    )


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def text_of(element: etree._Element, name: str) -> str | None:
    child = element.find(_q(name))
    return None if child is None else (child.text or "").strip()


def _parse_datetime(value: str) -> datetime:
    """An xs:dateTime; one without a zone is read as Europe/London wall-clock time."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SimFault(VALIDATION_ERROR, "A dateTime value could not be read.") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LONDON)


def parse_request(body: bytes, soap_action: str | None, contract: Contract) -> tuple[str, etree._Element]:
    """Return (operation name, body element) of a SOAP 1.1 request, or raise SimFault(VALIDATION_ERROR)."""
    try:
        root = etree.fromstring(body, _safe_parser())
    except (etree.XMLSyntaxError, ValueError):
        raise SimFault(VALIDATION_ERROR, "The request is not well-formed XML.") from None
    if root.getroottree().docinfo.doctype:
        raise SimFault(VALIDATION_ERROR, "Document type declarations are not accepted.")
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise SimFault(VALIDATION_ERROR, "The request is not a SOAP 1.1 envelope.")
    soap_body = root.find(f"{{{SOAP_ENV_NS}}}Body")
    if soap_body is None:
        raise SimFault(VALIDATION_ERROR, "The SOAP envelope has no Body.")
    payload = [child for child in soap_body if isinstance(child.tag, str)]
    if len(payload) != 1:
        raise SimFault(VALIDATION_ERROR, "The SOAP Body must hold exactly one operation element.")
    element = payload[0]
    qname = etree.QName(element)
    if qname.namespace != NS or qname.localname not in OPERATIONS:
        raise SimFault(VALIDATION_ERROR, f"Unknown operation {qname.localname}.")
    operation = qname.localname
    # SOAPAction is optional in SOAP 1.1 ("" means "see the body"); when given, it must agree.
    action = (soap_action or "").strip().strip('"')
    if action and action != f"{NS}#{operation}":
        raise SimFault(VALIDATION_ERROR, f"SOAPAction does not match the {operation} body element.")
    problems = contract.schema_errors(element)
    if problems:
        raise SimFault(VALIDATION_ERROR, f"{operation} does not match the schema: " + "; ".join(problems[:5]))
    return operation, element


def _envelope() -> tuple[etree._Element, etree._Element]:
    env = etree.Element(f"{{{SOAP_ENV_NS}}}Envelope", nsmap={"soap": SOAP_ENV_NS, "ecs": NS})
    body = etree.SubElement(env, f"{{{SOAP_ENV_NS}}}Body")
    return env, body


def _add(parent: etree._Element, name: str, value: Any) -> None:
    """Append <ecs:name>value</ecs:name>; None means "leave the optional element out"."""
    if value is None:
        return
    if isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    etree.SubElement(parent, _q(name)).text = text


def _case_element(parent: etree._Element, case: Case) -> None:
    el = etree.SubElement(parent, _q("Case"))
    # Order matters: the schema's xs:sequence.
    _add(el, "CaseReference", case.reference)
    _add(el, "CaseType", case.case_type)
    _add(el, "VehicleRegistrationMark", case.vrm)
    _add(el, "VehicleMake", case.vehicle_make)
    _add(el, "VehicleColour", case.vehicle_colour)
    _add(el, "IssueDate", case.issue_date)
    _add(el, "PenaltyAmountPence", case.penalty_pence)
    _add(el, "ReducedPenaltyAmountPence", case.reduced_penalty_pence)
    _add(el, "ReductionDeadline", case.reduction_deadline)
    _add(el, "ArrearsAmountPence", case.arrears_pence)
    _add(el, "ArrearsFrom", case.arrears_from)
    _add(el, "ArrearsTo", case.arrears_to)
    _add(el, "PayByDate", case.pay_by_date)
    _add(el, "Status", case.status)
    _add(el, "AmountPaidPence", case.amount_paid_pence)
    _add(el, "LastUpdated", case.last_updated)


def _ledger_element(parent: etree._Element, entry: SimLedgerEntry) -> None:
    el = etree.SubElement(parent, _q("Entry"))
    _add(el, "ReceiptNumber", entry.receipt_number)
    _add(el, "Kind", entry.kind)
    _add(el, "PaymentReference", entry.payment_reference)
    _add(el, "RefundReference", entry.refund_reference)
    _add(el, "AmountPence", entry.amount_pence)
    _add(el, "EffectiveAt", entry.effective_at)
    _add(el, "Channel", entry.channel)
    _add(el, "RecordedAt", entry.recorded_at)


def run_operation(state: EcsState, operation: str, element: etree._Element) -> etree._Element:
    """Apply one validated operation to the state; return the response's body element."""
    reference = text_of(element, "CaseReference")
    response = etree.Element(_q(f"{operation}Response"), nsmap={"ecs": NS})
    if operation == "GetCase":
        _case_element(response, state.get_case(reference, text_of(element, "VehicleRegistrationMark")))
    elif operation == "GetCaseLedger":
        for entry in state.get_ledger(reference):
            _ledger_element(response, entry)
    elif operation == "RecordPayment":
        receipt, status = state.record_payment(
            reference,
            payment_reference=text_of(element, "PaymentReference"),
            amount_pence=int(text_of(element, "AmountPence")),
            paid_at=_parse_datetime(text_of(element, "PaidAt")),
            channel=text_of(element, "Channel"),
            psp_reference=text_of(element, "PspReference"),
        )
        _add(response, "ReceiptNumber", receipt)
        _add(response, "CaseStatus", status)
    elif operation == "RecordRefund":
        receipt, status = state.record_refund(
            reference,
            payment_reference=text_of(element, "PaymentReference"),
            refund_reference=text_of(element, "RefundReference"),
            amount_pence=int(text_of(element, "AmountPence")),
            refunded_at=_parse_datetime(text_of(element, "RefundedAt")),
        )
        _add(response, "ReceiptNumber", receipt)
        _add(response, "CaseStatus", status)
    else:  # parse_request only lets known operations through
        raise SimFault(VALIDATION_ERROR, f"Unknown operation {operation}.")
    return response


def response_envelope(payload: etree._Element) -> bytes:
    env, body = _envelope()
    body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def fault_envelope(code: str, message: str) -> bytes:
    """A SOAP 1.1 fault: faultcode/faultstring/detail are unqualified, per the SOAP 1.1 spec."""
    env, body = _envelope()
    fault = etree.SubElement(body, f"{{{SOAP_ENV_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soap:Server" if code in SERVER_SIDE_CODES else "soap:Client"
    etree.SubElement(fault, "faultstring").text = message
    detail = etree.SubElement(fault, "detail")
    ecs_fault = etree.SubElement(detail, _q("EcsFault"))
    etree.SubElement(ecs_fault, _q("Code")).text = code
    etree.SubElement(ecs_fault, _q("Message")).text = message
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")
