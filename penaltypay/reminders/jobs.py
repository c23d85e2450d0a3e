"""The reminders' periodic job (penaltypay.kernel.periodic): the worker runs it under its own lease."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings

from penaltypay.cases.ports import ecs_for_lookups
from penaltypay.kernel.periodic import periodic
from penaltypay.reminders.service import Report, send_due

log = logging.getLogger("penaltypay.worker")


def _due(now: datetime, last_success: datetime | None) -> bool:
    return last_success is None or last_success <= now - timedelta(seconds=settings.REMINDER_SEND_SECONDS)


@periodic(
    "reminders",
    what="sends the reminders whose day has come, once each, after reading each penalty from ECS again",
    cadence="every REMINDER_SEND_SECONDS",
    due=_due,
)
def send_reminders(now: datetime) -> Report:
    report = send_due(ecs_for_lookups(), now)
    if report.sent or report.skipped or report.failed:
        log.info("reminders pass", extra=report.as_dict())
    return report
