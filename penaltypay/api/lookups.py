"""Finding a case for a machine client: the keepers' rules (the same domain functions, the
per-reference limit, one answer for "no such reference" and "wrong vehicle")."""

from __future__ import annotations

from penaltypay import ratelimits
from penaltypay.api.models import ApiClient
from penaltypay.api.problems import Problem
from penaltypay.cases.domain import (
    CASE_TYPE_NAMES,
    Case,
    is_valid_reference,
    is_valid_vrm,
    normalise_reference,
    normalise_vrm,
)
from penaltypay.cases.lookup import LookupOutcome, find_case
from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.payments.checkout import quote

NOT_FOUND = "No case matches that reference and registration"


def checked(reference: str, registration: str) -> tuple[str, str]:
    ref, vrm = normalise_reference(reference), normalise_vrm(registration)
    errors = []
    if not is_valid_reference(ref):
        errors.append({"field": "reference", "message": "The penalty reference is 8 digits"})
    if not is_valid_vrm(vrm):
        errors.append({"field": "registration", "message": "A registration is 1 to 7 letters and digits"})
    if errors:
        raise Problem(422, "invalid-request", "Check the reference and registration", errors=errors)
    return ref, vrm


def check_distinct(lines: list[tuple[str, str]]) -> None:
    """A basket names each penalty once, however it is written ("75000011", "7500-0011"):
    checked before anything is looked up, so nothing is asked of ECS for a request refused."""
    first_at: dict[str, int] = {}
    for n, (reference, registration) in enumerate(lines):
        ref, _ = checked(reference, registration)
        if ref in first_at:
            raise Problem(
                422,
                "invalid-request",
                f"Penalty {ref} is named twice: name each penalty once",
                errors=[{"field": f"cases.{n}.reference", "message": f"the same penalty as cases.{first_at[ref]}"}],
            )
        first_at[ref] = n


def look_up(client: ApiClient, reference: str, registration: str) -> Case:
    ref, vrm = checked(reference, registration)
    reservation = ratelimits.reserve_reference(f"api:{client.client_id}", ref)
    if isinstance(reservation, ratelimits.Limited):
        raise Problem(
            429,
            "lookups-limited",
            "Too many look-ups of this reference; try later",
            headers={"Retry-After": str(reservation.retry_after_seconds)},
        )
    lookup = find_case(ref, vrm, ecs_for_lookups())
    ratelimits.record_outcome(
        reservation,
        found=lookup.outcome in (LookupOutcome.FOUND, LookupOutcome.BUSY),
        not_found=lookup.outcome is LookupOutcome.NOT_FOUND,
    )
    if lookup.outcome is LookupOutcome.NOT_FOUND:
        raise Problem(404, "case-not-found", NOT_FOUND)
    if lookup.outcome in (LookupOutcome.UNAVAILABLE, LookupOutcome.BUSY) or lookup.case is None:
        raise Problem(
            503,
            "service-unavailable",
            "The case system is not answering; try again in a minute",
            headers={"Retry-After": "60"},
        )
    if lookup.outcome is LookupOutcome.NOT_PAYABLE_HERE:
        raise Problem(422, "case-not-payable", "This type of penalty cannot be paid through this service")
    return lookup.case


def summary(case: Case) -> dict:
    answer = quote(case)
    due, reason = answer.due, answer.reason
    return {
        "reference": case.reference,
        "case_type": case.case_type,
        "case_type_name": CASE_TYPE_NAMES.get(case.case_type, case.case_type),
        "registration": case.vrm,
        "vehicle_make": case.vehicle_make,
        "vehicle_colour": case.vehicle_colour,
        "status": case.status,
        "reduction_deadline": case.reduction_deadline,
        "pay_by_date": case.pay_by_date,
        "amount_due": {
            "total_pence": due.total_pence,
            "penalty_pence": due.penalty_pence,
            "reduced": due.reduced,
            "arrears_pence": due.arrears_pence,
            "already_paid_pence": due.already_paid_pence,
        },
        "payable": reason is None,
        "not_payable_reason": reason.value if reason else None,
    }
