"""The reconciliation app's periodic job (penaltypay.kernel.periodic): each morning at
RECONCILE_AT (Europe/London) yesterday is reconciled, once across every worker; a run left
incomplete (ECS unreachable, say) is resumed every half hour until it completes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from datetime import time as dt_time

from django.conf import settings

from penaltypay.ecs.ports import ecs_for_delivery
from penaltypay.kernel.clock import LONDON
from penaltypay.kernel.periodic import periodic
from penaltypay.payments.ports import payment_provider
from penaltypay.reconciliation.models import ReconciliationRun
from penaltypay.reconciliation.run import reconcile_day

RECONCILE_RETRY = timedelta(minutes=30)


def _day_due(now: datetime) -> date | None:
    """The day to reconcile now, or None when there is nothing to do yet."""
    local = now.astimezone(LONDON)
    if local.time() < dt_time.fromisoformat(settings.RECONCILE_AT):
        return None
    day = local.date() - timedelta(days=1)
    runs = ReconciliationRun.objects.filter(day=day, trigger="schedule")
    if runs.exclude(status=ReconciliationRun.INCOMPLETE).exists():
        return None
    last = runs.first()
    if last is not None and last.finished_at and last.finished_at > now - RECONCILE_RETRY:
        return None
    return day


@periodic(
    "reconcile",
    what="reconciles yesterday three ways (the provider, penaltypay, ECS); resumes an incomplete run",
    cadence="daily at RECONCILE_AT, then every 30 minutes until complete",
    due=lambda now, last_success: _day_due(now) is not None,
    lease=timedelta(minutes=30),
)
def reconcile_yesterday(now: datetime) -> ReconciliationRun | None:
    day = _day_due(now)  # again, under the lease: another worker may just have finished it
    if day is None:
        return None
    return reconcile_day(
        day,
        provider=payment_provider(),
        ecs_factory=ecs_for_delivery,
        trigger="schedule",
        by="worker",
        resume=ReconciliationRun.objects.filter(day=day, trigger="schedule").exists(),
        now=now,
    )
