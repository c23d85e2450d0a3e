"""What can go wrong when talking to ECS, as types the rest of the service can act on.

Two questions decide what a caller does next, so every error answers both:

* ``retryable`` - may the same call be made again later (after a back-off)?
* ``outcome_known`` - do we know whether the call had any effect? When it is
  False, a write may or may not be in the ECS ledger: ECS is not idempotent,
  so the caller must read ``GetCaseLedger`` and look for its own payment or
  refund reference before writing again.

Messages carry case references and fault codes, never a vehicle registration
mark or other personal data, because they end up in logs.
"""

from __future__ import annotations

from typing import ClassVar


class EcsError(Exception):
    """Base class of everything the ECS client raises."""

    retryable: ClassVar[bool] = False
    outcome_known: ClassVar[bool] = True

    def __init__(self, message: str, *, operation: str | None = None, reference: str | None = None):
        super().__init__(message)
        self.message = message
        self.operation = operation  # e.g. "RecordPayment"
        self.reference = reference  # the case reference, when the call named one


# --- Faults: ECS answered with a SOAP fault carrying EcsFault{Code, Message} ----------


class EcsFault(EcsError):
    """ECS answered with an EcsFault. Subclasses exist for every code in the WSDL.

    A code this client does not know comes back as an EcsFault that is none of
    the named subclasses: we cannot tell what happened, so it is not retryable
    and its outcome is unknown - a person should look.
    """

    CODE: ClassVar[str | None] = None

    def __init__(self, code: str, message: str, *, operation: str | None = None, reference: str | None = None):
        super().__init__(f"{code}: {message}" if message else code, operation=operation, reference=reference)
        self.code = code
        self.message = message


class _KnownFault(EcsFault):
    """A fault whose code is fixed by its class: construct it with just a message."""

    def __init__(self, message: str = "", *, operation: str | None = None, reference: str | None = None):
        super().__init__(self.CODE or "", message, operation=operation, reference=reference)


class CaseNotFound(_KnownFault):
    """No such case. Show the citizen the same message as for VrmMismatch (see the ICD)."""

    CODE = "CASE_NOT_FOUND"


class VrmMismatch(_KnownFault):
    """The case exists but the vehicle registration mark differs."""

    CODE = "VRM_MISMATCH"


class CaseClosed(_KnownFault):
    """The case is NO_PAYMENT_REQUIRED, DEBT_RECOVERY or COURT: the money must be refunded and a person told."""

    CODE = "CASE_CLOSED"


class CaseTypeNotSupported(_KnownFault):
    """The case type cannot take payments through this interface."""

    CODE = "CASE_TYPE_NOT_SUPPORTED"


class EcsValidationError(_KnownFault):
    """The request broke the schema or an ECS rule. A defect on our side: alert, do not retry."""

    CODE = "VALIDATION_ERROR"


class ServiceUnavailable(_KnownFault):
    """Batch window or maintenance: nothing was done; try again later."""

    CODE = "SERVICE_UNAVAILABLE"
    retryable = True


class EcsInternalError(_KnownFault):
    """ECS failed with "anything else".

    The ICD promises that a business fault means nothing was applied, but
    INTERNAL_ERROR is ECS's catch-all: a write might have been committed before
    whatever failed. Reading the ledger before retrying costs one call and
    rules out paying twice, so the outcome is treated as unknown.
    """

    CODE = "INTERNAL_ERROR"
    retryable = True
    outcome_known = False


_FAULTS_BY_CODE: dict[str, type[_KnownFault]] = {
    cls.CODE: cls
    for cls in (
        CaseNotFound,
        VrmMismatch,
        CaseClosed,
        CaseTypeNotSupported,
        EcsValidationError,
        ServiceUnavailable,
        EcsInternalError,
    )
    if cls.CODE
}


class _UnknownFault(EcsFault):
    outcome_known = False


def fault_from_code(code: str, message: str, *, operation: str | None = None, reference: str | None = None) -> EcsFault:
    """The typed fault for an EcsFault code; an unknown code gives a plain EcsFault (outcome unknown)."""
    cls = _FAULTS_BY_CODE.get(code)
    if cls is not None:
        return cls(message, operation=operation, reference=reference)
    return _UnknownFault(code, message, operation=operation, reference=reference)


# --- Transport: no usable answer from ECS ------------------------------------------------


class EcsUnreachable(EcsError):
    """The connection could not be made (refused, DNS, connect timeout, TLS handshake).

    Nothing was sent, so nothing happened: safe to retry the same call.
    """

    retryable = True
    outcome_known = True


class EcsOutcomeUnknown(EcsError):
    """The request may have reached ECS but no usable answer came back.

    A timeout, a reset connection, an HTTP 5xx without a SOAP fault, a
    response that is not the XML the WSDL promises. A write may have taken
    effect: read the ledger before writing again.
    """

    retryable = True
    outcome_known = False

    # What went wrong, for a caller deciding whether a *read* may be repeated at once:
    TIMEOUT = "timeout"  # no answer in time: repeating would only wait again
    CONNECTION = "connection"  # reset or closed after sending
    HTTP_ERROR = "http_error"  # an HTTP error (a bare 500) instead of SOAP
    UNREADABLE = "unreadable"  # an answer that is not what the WSDL promises

    def __init__(
        self, message: str, *, operation: str | None = None, reference: str | None = None, cause: str = "unreadable"
    ):
        super().__init__(message, operation=operation, reference=reference)
        self.cause = cause


class EcsConfigurationError(EcsError):
    """Our side is set up wrongly: the WSDL cannot be loaded, or ECS refused our credentials (HTTP 401/403).

    Nothing happened at ECS. Retryable in the sense that the same call will
    work once an operator fixes the configuration - keep the work queued and alert.
    """

    retryable = True
    outcome_known = True


__all__ = [
    "EcsError",
    "EcsFault",
    "CaseNotFound",
    "VrmMismatch",
    "CaseClosed",
    "CaseTypeNotSupported",
    "EcsValidationError",
    "ServiceUnavailable",
    "EcsInternalError",
    "EcsUnreachable",
    "EcsOutcomeUnknown",
    "EcsConfigurationError",
    "fault_from_code",
]
