"""The one adapter to the Enforcement Case System's SOAP service (see the ICD).

Everything else in penaltypay talks to ECS through `EcsClient` and never
imports zeep or requests for it. The client's job is narrow:

* map the four operations to and from plain Python (`Case`, `LedgerEntry`,
  `WriteReceipt`), with tz-aware datetimes and integer pence;
* turn every failure into one of the typed errors in `penaltypay.ecs.errors`,
  each saying whether a retry is allowed and whether the outcome is known;
* never retry on its own. ECS writes are not idempotent, so whether (and
  when) to call again is the caller's decision, made after reading the ledger
  when `outcome_known` is False.

The WSDL is read from the repository's copy (``penaltypay/ecs/wsdl/``), not
fetched from ECS, and the endpoint address always comes from configuration.

Thread safety: an `EcsClient` builds one zeep client lazily (under a lock)
and reuses it and its requests Session for every call. zeep's client and
service proxy are not modified by calls, and a requests Session's connection
pool is safe to share; still, requests does not promise Session thread
safety, so for heavily concurrent workers prefer one `EcsClient` per thread.
Creating one is cheap until its first call (which parses the WSDL).

Personal data: log lines and error messages name the operation and the case
reference only. zeep's own DEBUG logging of whole SOAP envelopes (which carry
vehicle marks) is bypassed by `_QuietTransport`.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions
from requests.auth import HTTPBasicAuth
from lxml import etree
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault as ZeepFault
from zeep.exceptions import TransportError as ZeepTransportError
from zeep.transports import Transport

from penaltypay.cases.domain import LONDON, Case
from penaltypay.ecs.errors import (
    EcsConfigurationError,
    EcsError,
    EcsOutcomeUnknown,
    EcsUnreachable,
    fault_from_code,
)

logger = logging.getLogger(__name__)

NS = "urn:enforcement-case-system:v1"
BINDING = f"{{{NS}}}EnforcementCaseBinding"
DEFAULT_WSDL_PATH = Path(__file__).resolve().parent / "wsdl" / "enforcement-case-service.wsdl"


@dataclass(frozen=True)
class LedgerEntry:
    """One payment or refund in a case's ECS ledger."""

    receipt_number: str
    kind: str  # "PAYMENT" or "REFUND"
    payment_reference: str
    refund_reference: str | None  # None for payments
    amount_pence: int
    effective_at: datetime  # when the money moved (PaidAt / RefundedAt), tz-aware
    channel: str  # ONLINE | PHONE | POST
    recorded_at: datetime  # when ECS wrote the line, tz-aware


@dataclass(frozen=True)
class WriteReceipt:
    """ECS's answer to RecordPayment / RecordRefund."""

    receipt_number: str
    case_status: str  # the case's status after the write


class _QuietTransport(Transport):
    """zeep's Transport without its DEBUG logging of whole request and response bodies.

    Those bodies carry vehicle registration marks; a debug switch flipped in
    production must not put them in the logs.
    """

    def post(self, address, message, headers):  # noqa: D401 - zeep's signature
        return self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)


class EcsClient:
    """Calls ECS over SOAP. See the module docstring for thread safety and retry policy."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None,
                 timeout: float = 5.0, wsdl_path: str | None = None):
        if not url:
            raise ValueError("an ECS endpoint URL is required")
        if timeout is None or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        self.url = url
        self.timeout = float(timeout)
        self.wsdl_path = Path(wsdl_path) if wsdl_path else DEFAULT_WSDL_PATH
        self._username = username
        self._password = password
        self._service: Any = None
        self._session: requests.Session | None = None
        self._build_lock = threading.Lock()

    def __repr__(self) -> str:  # never show the password
        return f"EcsClient(url={self.url!r}, username={self._username!r}, timeout={self.timeout})"

    def close(self) -> None:
        """Close pooled HTTP connections (the client can still be used afterwards)."""
        with self._build_lock:
            session, self._session, self._service = self._session, None, None
        if session is not None:
            session.close()

    # -- operations --------------------------------------------------------------------------

    def get_case(self, reference: str, vrm: str) -> Case:
        """The case, only when `vrm` matches. Raises CaseNotFound / VrmMismatch otherwise.

        The caller should normalise `vrm` (upper case, no spaces) first: ECS's
        schema rejects anything else with a VALIDATION_ERROR.
        """
        result = self._call("GetCase", reference, CaseReference=reference, VehicleRegistrationMark=vrm)
        return self._map("GetCase", reference, _case_from, result)

    def get_case_ledger(self, reference: str) -> list[LedgerEntry]:
        """Every payment and refund recorded against the case, oldest first."""
        result = self._call("GetCaseLedger", reference, CaseReference=reference)
        return self._map("GetCaseLedger", reference, _ledger_from, result)

    def record_payment(self, reference: str, payment_reference: str, amount_pence: int, paid_at: datetime,
                       channel: str, psp_reference: str) -> WriteReceipt:
        """Record money received. NOT idempotent: see the module docstring.

        `paid_at` is when the citizen's payment was authorised (it decides
        whether the reduced amount applied), not the time of this call.
        """
        _require_pence("amount_pence", amount_pence)
        _require_aware("paid_at", paid_at)
        result = self._call(
            "RecordPayment", reference,
            CaseReference=reference, PaymentReference=payment_reference, AmountPence=amount_pence,
            PaidAt=paid_at, Channel=channel, PspReference=psp_reference,
        )
        return self._map("RecordPayment", reference, _receipt_from, result)

    def record_refund(self, reference: str, payment_reference: str, refund_reference: str, amount_pence: int,
                      refunded_at: datetime) -> WriteReceipt:
        """Record money returned against an earlier payment. NOT idempotent."""
        _require_pence("amount_pence", amount_pence)
        _require_aware("refunded_at", refunded_at)
        result = self._call(
            "RecordRefund", reference,
            CaseReference=reference, PaymentReference=payment_reference, RefundReference=refund_reference,
            AmountPence=amount_pence, RefundedAt=refunded_at,
        )
        return self._map("RecordRefund", reference, _receipt_from, result)

    # -- machinery ---------------------------------------------------------------------------

    def _service_proxy(self) -> Any:
        """The zeep service bound to `self.url`, built on first use and then reused."""
        service = self._service
        if service is not None:
            return service
        with self._build_lock:
            if self._service is None:
                session = requests.Session()
                if self._username:
                    session.auth = HTTPBasicAuth(self._username, self._password or "")
                # `timeout` bounds loading documents, `operation_timeout` every SOAP call
                # (requests applies it to connecting and to each wait for data).
                transport = _QuietTransport(session=session, timeout=self.timeout, operation_timeout=self.timeout)
                settings = Settings(strict=True, xml_huge_tree=False, forbid_dtd=True,
                                    forbid_entities=True, forbid_external=True)
                try:
                    client = Client(str(self.wsdl_path), transport=transport, settings=settings)
                    self._service = client.create_service(BINDING, self.url)
                except (OSError, ZeepError, etree.LxmlError, ValueError) as exc:
                    session.close()
                    raise EcsConfigurationError(
                        f"cannot load the ECS WSDL from {self.wsdl_path}: {type(exc).__name__}"
                    ) from exc
                self._session = session
            return self._service

    def _call(self, operation: str, reference: str, **params: Any) -> Any:
        """Make one SOAP call; every failure leaves as an EcsError subclass."""
        missing = [name for name, value in params.items() if value is None]
        if missing:  # zeep would refuse to serialise it; say so before anything is sent
            raise ValueError(f"{operation}: missing {', '.join(missing)}")
        service = self._service_proxy()
        started = time.monotonic()
        cause: BaseException | None = None
        try:
            result = getattr(service, operation)(**params)
        except ZeepFault as fault:
            error = _from_fault(fault, operation, reference)
        except ZeepTransportError as exc:
            error = _from_http_status(exc.status_code, operation, reference)
        except requests.RequestException as exc:
            error = _from_requests(exc, operation, reference)
            cause = exc  # requests' messages name hosts and URLs, not personal data: keep them for debugging
        except Exception as exc:  # noqa: BLE001 - malformed XML, schema surprises, anything zeep raises
            error = EcsOutcomeUnknown(
                f"{operation} for case {reference}: the response could not be understood ({type(exc).__name__})",
                operation=operation, reference=reference,
            )
        else:
            logger.debug("ECS call succeeded", extra={
                "ecs_operation": operation, "case_reference": reference,
                "duration_ms": round((time.monotonic() - started) * 1000),
            })
            return result
        logger.warning("ECS call failed", extra={
            "ecs_operation": operation, "case_reference": reference, "ecs_error": type(error).__name__,
            "ecs_code": getattr(error, "code", None), "retryable": error.retryable,
            "outcome_known": error.outcome_known, "duration_ms": round((time.monotonic() - started) * 1000),
        })
        # zeep's exceptions are deliberately not chained: their messages can quote
        # the SOAP envelope, which carries vehicle marks.
        raise error from cause

    def _map(self, operation: str, reference: str, mapper: Any, result: Any) -> Any:
        """Turn zeep's objects into ours; a response that does not fit is an unknown outcome."""
        try:
            return mapper(result)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise EcsOutcomeUnknown(
                f"{operation} for case {reference}: the response did not have the expected shape "
                f"({type(exc).__name__})",
                operation=operation, reference=reference,
            ) from None


# -- error translation -------------------------------------------------------------------------

def _from_fault(fault: ZeepFault, operation: str, reference: str) -> EcsError:
    """A SOAP fault with an EcsFault detail is a typed fault; any other fault is an unknown outcome.

    zeep also reports "HTTP 5xx with an XML body but no soap:Fault" (an HTML
    error page from a proxy, say) as a Fault with no code: that is exactly the
    ICD's "HTTP 5xx without a SOAP fault".
    """
    detail = fault.detail if isinstance(fault.detail, etree._Element) else None
    ecs_fault = detail.find(f"{{{NS}}}EcsFault") if detail is not None else None
    code = ecs_fault.findtext(f"{{{NS}}}Code") if ecs_fault is not None else None
    if code:
        message = (ecs_fault.findtext(f"{{{NS}}}Message") or "").strip()
        return fault_from_code(code.strip(), message, operation=operation, reference=reference)
    return EcsOutcomeUnknown(
        f"{operation} for case {reference}: ECS answered an error response without an EcsFault "
        f"(faultcode {fault.code or 'none'})",
        operation=operation, reference=reference,
    )


def _from_http_status(status: int | None, operation: str, reference: str) -> EcsError:
    """An HTTP answer zeep could not read as SOAP (empty, not XML)."""
    if status in (401, 403):
        return EcsConfigurationError(
            f"{operation} for case {reference}: ECS refused our credentials (HTTP {status})",
            operation=operation, reference=reference,
        )
    return EcsOutcomeUnknown(
        f"{operation} for case {reference}: HTTP {status} without a SOAP answer",
        operation=operation, reference=reference,
    )


# urllib3 errors that mean "no connection was made, so no request was sent".
_NOT_CONNECTED = (
    urllib3.exceptions.NewConnectionError,  # refused, unreachable, DNS (NameResolutionError)
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.SSLError,  # TLS handshake: precedes sending the request
)


def _from_requests(exc: requests.RequestException, operation: str, reference: str) -> EcsError:
    """Decide whether the request can have reached ECS.

    Only a failure to connect proves that nothing was sent. Everything else -
    a read timeout, a reset or closed connection, even a reused keep-alive
    connection that turned out dead - may have delivered the request, so the
    outcome is unknown. Erring that way costs a ledger read; erring the other
    way could pay a penalty twice.
    """
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    if isinstance(exc, requests.ConnectTimeout) or isinstance(reason, _NOT_CONNECTED):
        return EcsUnreachable(
            f"{operation} for case {reference}: could not connect to ECS ({type(reason or exc).__name__})",
            operation=operation, reference=reference,
        )
    return EcsOutcomeUnknown(
        f"{operation} for case {reference}: no usable answer from ECS ({_root_cause_name(exc)})",
        operation=operation, reference=reference,
    )


def _root_cause_name(exc: BaseException) -> str:
    """"ConnectionError/ProtocolError/ConnectionResetError": the chain of types, without the long messages."""
    names = [type(exc).__name__]
    current = exc
    while len(names) < 6:  # requests -> urllib3 -> http.client/socket; never deeper in practice
        nested = next((arg for arg in current.args if isinstance(arg, BaseException)), None)
        if nested is None:
            nested = getattr(current, "reason", None)  # urllib3's MaxRetryError keeps it here
        if not isinstance(nested, BaseException):
            break
        names.append(type(nested).__name__)
        current = nested
    return "/".join(dict.fromkeys(names))


# -- mapping zeep objects ------------------------------------------------------------------------

def _aware(value: datetime) -> datetime:
    """A tz-aware datetime in UTC. ECS omitting the offset means London wall-clock time."""
    if not isinstance(value, datetime):
        raise TypeError("expected a dateTime")
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(timezone.utc)


def _date(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError("expected a date")
    return value


def _optional_date(value: Any) -> date | None:
    return None if value is None else _date(value)


def _pence(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected whole pence")
    return value


def _case_from(result: Any) -> Case:
    # zeep unwraps GetCaseResponse to its only child, the Case; accept the wrapper too.
    case = getattr(result, "Case", None) or result
    return Case(
        reference=str(case.CaseReference),
        case_type=str(case.CaseType),
        vrm=str(case.VehicleRegistrationMark),
        vehicle_make=str(case.VehicleMake or ""),
        vehicle_colour=str(case.VehicleColour or ""),
        issue_date=_date(case.IssueDate),
        penalty_pence=_pence(case.PenaltyAmountPence),
        reduced_penalty_pence=_pence(case.ReducedPenaltyAmountPence),
        reduction_deadline=_optional_date(case.ReductionDeadline),
        arrears_pence=_pence(case.ArrearsAmountPence),
        arrears_from=_optional_date(case.ArrearsFrom),
        arrears_to=_optional_date(case.ArrearsTo),
        pay_by_date=_date(case.PayByDate),
        status=str(case.Status),
        amount_paid_pence=_pence(case.AmountPaidPence),
        last_updated=_aware(case.LastUpdated),
    )


def _ledger_from(result: Any) -> list[LedgerEntry]:
    # zeep unwraps GetCaseLedgerResponse to the list of Entry ([] when empty); accept the wrapper too.
    if result is None:
        entries: list[Any] = []
    elif isinstance(result, list):
        entries = result
    else:
        entries = list(getattr(result, "Entry", None) or [])
    return [
        LedgerEntry(
            receipt_number=str(entry.ReceiptNumber),
            kind=str(entry.Kind),
            payment_reference=str(entry.PaymentReference),
            refund_reference=None if entry.RefundReference is None else str(entry.RefundReference),
            amount_pence=_pence(entry.AmountPence),
            effective_at=_aware(entry.EffectiveAt),
            channel=str(entry.Channel),
            recorded_at=_aware(entry.RecordedAt),
        )
        for entry in entries
    ]


def _receipt_from(result: Any) -> WriteReceipt:
    if result is None or not result.ReceiptNumber or not result.CaseStatus:
        raise ValueError("no receipt in the response")
    return WriteReceipt(receipt_number=str(result.ReceiptNumber), case_status=str(result.CaseStatus))


# -- argument checks (programming errors, raised before anything is sent) --------------------------

def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _require_pence(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative whole number of pence")


__all__ = ["EcsClient", "LedgerEntry", "WriteReceipt", "DEFAULT_WSDL_PATH"]
