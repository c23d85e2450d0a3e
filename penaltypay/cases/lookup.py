"""Finding a keeper's case: ask ECS, remember the answer, fall back to what we remember.

Decision (docs/adr/0004): ECS's answer wins whenever ECS answers. When ECS cannot
answer (batch window, outage, timeout) the local store answers if it holds the
case with the same vehicle; the keeper is not told anything alarming. A
reference that does not exist and one whose vehicle differs are one outcome,
`NOT_FOUND`, so a reference cannot be confirmed without its vehicle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from penaltypay.cases.domain import Case
from penaltypay.cases.ports import CaseSource
from penaltypay.cases.store import local_case, remember_case
from penaltypay.ecs import errors

log = logging.getLogger(__name__)


class LookupOutcome(str, Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"  # no such case, or the vehicle does not match: one message for both
    NOT_PAYABLE_HERE = "not_payable_here"  # ECS says the case type cannot take payments here
    UNAVAILABLE = "unavailable"  # ECS cannot answer and we hold nothing for this case


@dataclass(frozen=True)
class Lookup:
    outcome: LookupOutcome
    case: Case | None = None
    from_local_store: bool = False


def find_case(reference: str, vrm: str, source: CaseSource) -> Lookup:
    """`source` is ECS (the SOAP adapter) in production; callers choose and pass it in."""
    try:
        case = source.get_case(reference, vrm)
    except (errors.CaseNotFound, errors.VrmMismatch):
        return Lookup(LookupOutcome.NOT_FOUND)
    except errors.CaseTypeNotSupported:
        return Lookup(LookupOutcome.NOT_PAYABLE_HERE)
    except errors.EcsError as exc:
        # Includes VALIDATION_ERROR: our input was checked before calling, so this is
        # ECS's problem, not the keeper's; the local store may still answer.
        log.warning("ECS look-up failed; using the local case store", extra={"error": type(exc).__name__})
        held = local_case(reference, vrm)
        if held is None:
            return Lookup(LookupOutcome.UNAVAILABLE)
        return Lookup(LookupOutcome.FOUND, held, from_local_store=True)
    remember_case(case)
    return Lookup(LookupOutcome.FOUND, case)
