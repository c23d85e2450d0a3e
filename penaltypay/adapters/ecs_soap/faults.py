"""Turning what zeep and requests raise into `penaltypay.ecs.errors`, deciding for each
whether the request can have reached ECS (and so whether a write may have happened)."""

from __future__ import annotations

import requests
import urllib3.exceptions
from lxml import etree
from zeep.exceptions import Fault as ZeepFault

from penaltypay.ecs.errors import (
    EcsConfigurationError,
    EcsError,
    EcsOutcomeUnknown,
    EcsUnreachable,
    fault_from_code,
)

NS = "urn:enforcement-case-system:v1"


def from_fault(fault: ZeepFault, operation: str, reference: str) -> EcsError:
    """A SOAP fault with an EcsFault detail is a typed fault; any other fault is an unknown outcome.

    zeep also reports "HTTP 5xx with an XML body but no soap:Fault" (an HTML
    error page from a proxy, say) as a Fault with no code: that is exactly the
    ICD's "HTTP 5xx without a SOAP fault".
    """
    detail = fault.detail if isinstance(fault.detail, etree._Element) else None
    ecs_fault = detail.find(f"{{{NS}}}EcsFault") if detail is not None else None
    code = ecs_fault.findtext(f"{{{NS}}}Code") if ecs_fault is not None else None
    if code and ecs_fault is not None:
        message = (ecs_fault.findtext(f"{{{NS}}}Message") or "").strip()
        return fault_from_code(code.strip(), message, operation=operation, reference=reference)
    return EcsOutcomeUnknown(
        f"{operation} for case {reference}: ECS answered an error response without an EcsFault "
        f"(faultcode {fault.code or 'none'})",
        operation=operation,
        reference=reference,
        cause=EcsOutcomeUnknown.HTTP_ERROR,
    )


def from_http_status(status: int | None, operation: str, reference: str) -> EcsError:
    """An HTTP answer zeep could not read as SOAP (empty, not XML)."""
    if status in (401, 403):
        return EcsConfigurationError(
            f"{operation} for case {reference}: ECS refused our credentials (HTTP {status})",
            operation=operation,
            reference=reference,
        )
    return EcsOutcomeUnknown(
        f"{operation} for case {reference}: HTTP {status} without a SOAP answer",
        operation=operation,
        reference=reference,
        cause=EcsOutcomeUnknown.HTTP_ERROR,
    )


# urllib3 errors that mean "no connection was made, so no request was sent".
_NOT_CONNECTED = (
    urllib3.exceptions.NewConnectionError,  # refused, unreachable, DNS (NameResolutionError)
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.SSLError,  # TLS handshake: precedes sending the request
)


def from_requests(exc: requests.RequestException, operation: str, reference: str) -> EcsError:
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
            operation=operation,
            reference=reference,
        )
    return EcsOutcomeUnknown(
        f"{operation} for case {reference}: no usable answer from ECS ({_root_cause_name(exc)})",
        operation=operation,
        reference=reference,
        cause=EcsOutcomeUnknown.TIMEOUT if isinstance(exc, requests.Timeout) else EcsOutcomeUnknown.CONNECTION,
    )


def _root_cause_name(exc: BaseException) -> str:
    """ "ConnectionError/ProtocolError/ConnectionResetError": the chain of types, without the long messages."""
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
