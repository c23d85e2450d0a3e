"""The exceptions app's periodic job (penaltypay.kernel.periodic)."""

from __future__ import annotations

from datetime import datetime

from penaltypay.exceptions.alerts import announce_new_exceptions
from penaltypay.kernel.periodic import periodic


@periodic(
    "exceptions-announce",
    what="emails the team about new money exceptions (each once)",
    cadence="every pass (--interval)",
)
def announce(now: datetime) -> int:
    return announce_new_exceptions(now)
