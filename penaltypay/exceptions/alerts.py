"""Telling the team about new exceptions: one email to EXCEPTIONS_NOTIFY_EMAIL per round
that found new ones (identifiers and amounts only), and a metric per kind. Run by the
worker; a failed email is tried again next round."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from penaltypay.exceptions.models import ExceptionAlert
from penaltypay.exceptions.ports import TeamEmail
from penaltypay.exceptions.queue import Item, open_exceptions
from penaltypay.kernel.metrics import EXCEPTIONS_RAISED
from penaltypay.kernel.money import format_pence
from penaltypay.kernel.wiring import Wire

log = logging.getLogger("penaltypay.exceptions")


# Wired to the adapter at start-up (penaltypay.operations.apps).
team_email: Wire[TeamEmail] = Wire("team email")


def _record_new(items: list[Item], now: datetime) -> None:
    for item in items:
        try:
            with transaction.atomic():
                ExceptionAlert.objects.create(key=item.key, kind=item.kind, raised_at=now)
        except IntegrityError:
            continue  # known already
        EXCEPTIONS_RAISED.labels(kind=item.kind).inc()
        log.warning(
            "new money exception",
            extra={
                "exception_kind": item.kind,
                "case_reference": item.case_reference,
                "payment_reference": item.payment_reference,
            },
        )


def announce_new_exceptions(now: datetime | None = None) -> int:
    """Record exceptions not seen before and email the team about those not yet told.
    Returns how many the email named (0 when none, or when the email failed)."""
    now = now or timezone.now()
    items = open_exceptions(now)
    _record_new(items, now)
    by_key = {item.key: item for item in items}
    waiting = list(ExceptionAlert.objects.filter(notified_at__isnull=True, key__in=list(by_key)).order_by("id"))
    if not waiting or not settings.EXCEPTIONS_NOTIFY_EMAIL:
        return 0
    lines = [
        f"- {by_key[alert.key].kind_name}: case {by_key[alert.key].case_reference}"
        f"{' payment ' + by_key[alert.key].payment_reference if by_key[alert.key].payment_reference else ''},"
        f" {format_pence(by_key[alert.key].money_pence)}"
        for alert in waiting
    ]
    body = (
        f"{len(waiting)} new exception(s) need a person:\n\n"
        + "\n".join(lines)
        + f"\n\nSee {settings.PUBLIC_BASE_URL or ''}/staff/exceptions\n"
    )
    try:
        team_email().send(f"Penalty payments: {len(waiting)} new exception(s)", body, settings.EXCEPTIONS_NOTIFY_EMAIL)
    except Exception as exc:
        log.warning("exceptions email failed; will retry", extra={"error": type(exc).__name__})
        return 0
    ExceptionAlert.objects.filter(pk__in=[alert.pk for alert in waiting]).update(notified_at=now)
    return len(waiting)
