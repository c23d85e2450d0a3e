"""Finding a keeper's case: ask ECS, remember the answer, fall back to what we remember.

Decision (docs/adr/0004): ECS's answer wins whenever ECS answers. When ECS cannot
answer (batch window, outage, timeout) — or this process already has as many look-ups
waiting on ECS as it allows (the bulkhead, docs/adr/0010) — the local store answers if
it holds the case with the same vehicle; the keeper is not told anything alarming. A
reference that does not exist and one whose vehicle differs are one outcome,
`NOT_FOUND`, so a reference cannot be confirmed without its vehicle.

GetCase is a read, so a look-up that ECS answered with a reset connection or a bare
HTTP error is asked once more; a timeout is not (asking again would only wait again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from django.conf import settings

from penaltypay.cases.domain import Case
from penaltypay.cases.ports import CaseSource
from penaltypay.cases.store import local_case, remember_case
from penaltypay.ecs import errors
from penaltypay.kernel.bulkhead import Bulkhead
from penaltypay.kernel.metrics import LOOKUPS
from penaltypay.web.db_pool import lend_connection_back

log = logging.getLogger(__name__)

# Look-ups in flight to ECS from this process, at most (ECS has little capacity; a
# keeper must not queue behind other keepers' look-ups).
ECS_LOOKUPS = Bulkhead(
    "ecs-lookups",
    lambda: settings.ECS_LOOKUP_CONCURRENCY,
    wait=lambda: settings.ECS_LOOKUP_WAIT_SECONDS,
    stuck_after=lambda: settings.ECS_LOOKUP_STUCK_SECONDS,
)
_ASK_AGAIN = (errors.EcsOutcomeUnknown.CONNECTION, errors.EcsOutcomeUnknown.HTTP_ERROR)


class LookupOutcome(str, Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"  # no such case, or the vehicle does not match: one message for both
    NOT_PAYABLE_HERE = "not_payable_here"  # ECS says the case type cannot take payments here
    UNAVAILABLE = "unavailable"  # ECS cannot answer and we hold nothing for this case
    BUSY = "busy"  # every look-up place to ECS is taken and we hold nothing for this case


@dataclass(frozen=True)
class Lookup:
    outcome: LookupOutcome
    case: Case | None = None
    from_local_store: bool = False


def find_case(reference: str, vrm: str, source: CaseSource) -> Lookup:
    """`source` is ECS (the SOAP adapter) in production; callers choose and pass it in."""
    found = _find_case(reference, vrm, source)
    LOOKUPS.labels(found.outcome.value).inc()
    return found


def _find_case(reference: str, vrm: str, source: CaseSource) -> Lookup:
    with ECS_LOOKUPS.try_enter() as entered:
        if not entered:
            return _from_local_store(reference, vrm, otherwise=LookupOutcome.BUSY)
        lend_connection_back()  # ECS may take a second: the pool serves other requests meanwhile
        try:
            case = _ask(source, reference, vrm)
        except (errors.CaseNotFound, errors.VrmMismatch):
            return Lookup(LookupOutcome.NOT_FOUND)
        except errors.CaseTypeNotSupported:
            return Lookup(LookupOutcome.NOT_PAYABLE_HERE)
        except errors.EcsError as exc:
            # Includes VALIDATION_ERROR: our input was checked before calling, so this is
            # ECS's problem, not the keeper's; the local store may still answer.
            log.warning("ECS look-up failed; using the local case store", extra={"error": type(exc).__name__})
            return _from_local_store(reference, vrm, otherwise=LookupOutcome.UNAVAILABLE)
    remember_case(case)
    return Lookup(LookupOutcome.FOUND, case)


def _ask(source: CaseSource, reference: str, vrm: str) -> Case:
    try:
        return source.get_case(reference, vrm)
    except errors.EcsOutcomeUnknown as exc:
        if exc.cause not in _ASK_AGAIN:
            raise
        log.info("ECS look-up answered badly; asking once more", extra={"cause": exc.cause})
        return source.get_case(reference, vrm)


def _from_local_store(reference: str, vrm: str, *, otherwise: LookupOutcome) -> Lookup:
    held = local_case(reference, vrm)
    if held is None:
        return Lookup(otherwise)
    return Lookup(LookupOutcome.FOUND, held, from_local_store=True)
