"""The one adapter to the Enforcement Case System's SOAP service (see the ICD).

It implements the ports `penaltypay.cases.ports.CaseSource` (look-ups) and
`penaltypay.ecs.ports.EcsLedger` (the ledger); the rest of penaltypay depends on
those and never imports zeep, requests or this module (checked by import-linter). The client's job is narrow:

* map the four operations to and from plain Python (`Case`, `LedgerEntry`,
  `WriteReceipt`), with tz-aware datetimes and integer pence;
* turn every failure into one of the typed errors in `penaltypay.ecs.errors`,
  each saying whether a retry is allowed and whether the outcome is known;
* never retry on its own. ECS writes are not idempotent, so whether (and
  when) to call again is the caller's decision, made after reading the ledger
  when `outcome_known` is False.

The WSDL is read from the repository's copy (``penaltypay/adapters/ecs_soap/wsdl/``), not
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
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from requests.auth import HTTPBasicAuth
from zeep import Client, Settings
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault as ZeepFault
from zeep.exceptions import TransportError as ZeepTransportError
from zeep.transports import Transport

from penaltypay.adapters.ecs_soap.faults import (
    from_fault,
    from_http_status,
    from_requests,
)
from penaltypay.adapters.ecs_soap.mapping import case_from, ledger_from, receipt_from
from penaltypay.cases.domain import Case
from penaltypay.ecs.errors import (
    EcsConfigurationError,
    EcsOutcomeUnknown,
)
from penaltypay.ecs.ports import LedgerEntry, WriteReceipt
from penaltypay.kernel.metrics import OUTBOUND_CALLS

logger = logging.getLogger(__name__)

NS = "urn:enforcement-case-system:v1"
BINDING = f"{{{NS}}}EnforcementCaseBinding"
DEFAULT_WSDL_PATH = Path(__file__).resolve().parent / "wsdl" / "enforcement-case-service.wsdl"


class _QuietTransport(Transport):
    """zeep's Transport without its DEBUG logging of whole request and response bodies.

    Those bodies carry vehicle registration marks; a debug switch flipped in
    production must not put them in the logs.
    """

    def post(self, address, message, headers):  # noqa: D401 - zeep's signature
        return self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)


class EcsClient:
    """Calls ECS over SOAP. See the module docstring for thread safety and retry policy."""

    def __init__(
        self,
        url: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        wsdl_path: str | None = None,
    ):
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
        return self._map("GetCase", reference, case_from, result)

    def get_case_ledger(self, reference: str) -> list[LedgerEntry]:
        """Every payment and refund recorded against the case, oldest first."""
        result = self._call("GetCaseLedger", reference, CaseReference=reference)
        return self._map("GetCaseLedger", reference, ledger_from, result)

    def record_payment(
        self,
        reference: str,
        payment_reference: str,
        amount_pence: int,
        paid_at: datetime,
        channel: str,
        psp_reference: str,
    ) -> WriteReceipt:
        """Record money received. NOT idempotent: see the module docstring.

        `paid_at` is when the citizen's payment was authorised (it decides
        whether the reduced amount applied), not the time of this call.
        """
        _require_pence("amount_pence", amount_pence)
        _require_aware("paid_at", paid_at)
        result = self._call(
            "RecordPayment",
            reference,
            CaseReference=reference,
            PaymentReference=payment_reference,
            AmountPence=amount_pence,
            PaidAt=paid_at,
            Channel=channel,
            PspReference=psp_reference,
        )
        return self._map("RecordPayment", reference, receipt_from, result)

    def record_refund(
        self, reference: str, payment_reference: str, refund_reference: str, amount_pence: int, refunded_at: datetime
    ) -> WriteReceipt:
        """Record money returned against an earlier payment. NOT idempotent."""
        _require_pence("amount_pence", amount_pence)
        _require_aware("refunded_at", refunded_at)
        result = self._call(
            "RecordRefund",
            reference,
            CaseReference=reference,
            PaymentReference=payment_reference,
            RefundReference=refund_reference,
            AmountPence=amount_pence,
            RefundedAt=refunded_at,
        )
        return self._map("RecordRefund", reference, receipt_from, result)

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
                settings = Settings(
                    strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True
                )
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
            error = from_fault(fault, operation, reference)
        except ZeepTransportError as exc:
            error = from_http_status(exc.status_code, operation, reference)
        except requests.RequestException as exc:
            error = from_requests(exc, operation, reference)
            cause = exc  # requests' messages name hosts and URLs, not personal data: keep them for debugging
        except Exception as exc:  # noqa: BLE001 - malformed XML, schema surprises, anything zeep raises
            error = EcsOutcomeUnknown(
                f"{operation} for case {reference}: the response could not be understood ({type(exc).__name__})",
                operation=operation,
                reference=reference,
            )
        else:
            OUTBOUND_CALLS.labels("ecs", operation, "ok").observe(time.monotonic() - started)
            logger.debug(
                "ECS call succeeded",
                extra={
                    "ecs_operation": operation,
                    "case_reference": reference,
                    "duration_ms": round((time.monotonic() - started) * 1000),
                },
            )
            return result
        OUTBOUND_CALLS.labels("ecs", operation, type(error).__name__).observe(time.monotonic() - started)
        logger.warning(
            "ECS call failed",
            extra={
                "ecs_operation": operation,
                "case_reference": reference,
                "ecs_error": type(error).__name__,
                "ecs_code": getattr(error, "code", None),
                "retryable": error.retryable,
                "outcome_known": error.outcome_known,
                "duration_ms": round((time.monotonic() - started) * 1000),
            },
        )
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
                operation=operation,
                reference=reference,
            ) from None


# -- argument checks (programming errors, raised before anything is sent) --------------------------


def _require_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def _require_pence(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative whole number of pence")


__all__ = ["EcsClient", "DEFAULT_WSDL_PATH"]
