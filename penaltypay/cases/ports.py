"""Where case look-ups come from, as an interface: ECS in production (the SOAP adapter),
anything with the same shape in a test. Failures are `penaltypay.ecs.errors`."""

from __future__ import annotations

from typing import Protocol

from penaltypay.cases.domain import Case
from penaltypay.kernel.wiring import Wire


class CaseSource(Protocol):
    def get_case(self, reference: str, vrm: str) -> Case:
        """The case, only when `vrm` matches: CaseNotFound / VrmMismatch otherwise."""
        ...


# ECS for a keeper's look-up (a short timeout, then the local case store answers), as pages
# and the API look it up (wired in penaltypay.operations.apps).
ecs_for_lookups: Wire[CaseSource] = Wire("ECS for look-ups")
