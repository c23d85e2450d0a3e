"""The operations app's periodic job (penaltypay.kernel.periodic): each night at PURGE_AT
(Europe/London) the retention policy is applied, once a day across every worker; a run
stopped half way is simply finished the next night."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from datetime import time as dt_time

from django.conf import settings

from penaltypay.kernel.clock import LONDON
from penaltypay.kernel.periodic import periodic
from penaltypay.operations.models import PurgeRun
from penaltypay.operations.retention import PurgeResult, purge_and_record

log = logging.getLogger("penaltypay.worker")


def _due(now: datetime, last_success: datetime | None = None) -> bool:
    local = now.astimezone(LONDON)
    if local.time() < dt_time.fromisoformat(settings.PURGE_AT):
        return False
    today_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    ran = PurgeRun.objects.filter(trigger="schedule", finished_at__isnull=False, started_at__gte=today_start)
    return not ran.exists()


@periodic(
    "purge",
    what="applies the retention policy (personal data kept only as long as needed)",
    cadence="nightly at PURGE_AT",
    due=_due,
    lease=timedelta(minutes=60),
)
def purge_tonight(now: datetime) -> PurgeResult | None:
    if not _due(now):  # again, under the lease: another worker may just have finished it
        return None
    result = purge_and_record("schedule", now=now)
    log.info("retention purge", extra={"removed": result.removed, "seconds": round(result.seconds, 1)})
    return result
