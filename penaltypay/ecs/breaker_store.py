"""The ECS circuit breaker, shared by every outbox worker thread and process: its state is
one database row (EcsBreaker), changed only by compare-and-set on the row's version, so of
two workers racing one wins. The rules of the breaker are plain (penaltypay.ecs.delivery)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import F

from penaltypay.ecs import delivery, errors
from penaltypay.ecs.models import EcsBreaker

log = logging.getLogger("penaltypay.ecs.outbox_worker")  # the name operators' log searches know

# A breaker seen closed with no failures is trusted this long (real seconds) without reading
# its row again: the row was read before and after every delivery. Another worker opening
# it meanwhile costs at most this long of calls to a failing ECS; a failure here reads it at once.
TRUST_CLOSED_SECONDS = 1.0


class SharedBreaker:
    def __init__(self, policy: delivery.Policy, clock: Callable[[], datetime]):
        self.policy = policy
        self.clock = clock
        self._closed_seen = float("-inf")  # time.monotonic() when last read closed, with no failures

    def _trusted_closed(self) -> bool:
        return time.monotonic() - self._closed_seen < TRUST_CLOSED_SECONDS

    def _note(self, breaker: delivery.Breaker) -> None:
        closed = breaker.state is delivery.BreakerState.CLOSED and breaker.consecutive_failures == 0
        self._closed_seen = time.monotonic() if closed else float("-inf")

    def _load_breaker(self) -> tuple[EcsBreaker, delivery.Breaker]:
        row, _ = EcsBreaker.objects.get_or_create(name="ecs")
        return row, delivery.Breaker(
            delivery.BreakerState(row.state), row.consecutive_failures, row.open_until, row.open_seconds
        )

    def _store_breaker(self, row: EcsBreaker, new: delivery.Breaker) -> bool:
        """Compare-and-set on the row's version: of two workers racing, one wins."""
        updated = EcsBreaker.objects.filter(name=row.name, version=row.version).update(
            state=new.state.value,
            consecutive_failures=new.consecutive_failures,
            open_until=new.open_until,
            open_seconds=new.open_seconds,
            version=F("version") + 1,
            updated_at=self.clock(),
        )
        return updated == 1

    def permits(self) -> datetime | None:
        """None when a call may go ahead; otherwise when to look again."""
        if self._trusted_closed():
            return None
        row, breaker = self._load_breaker()
        self._note(breaker)
        allowed, after = delivery.breaker_permits(breaker, self.clock())
        if not allowed:
            return breaker.open_until
        if after != breaker and not self._store_breaker(row, after):
            return self.clock() + timedelta(seconds=1)  # another worker took the probe
        if after.state is delivery.BreakerState.HALF_OPEN:
            log.info("ECS circuit breaker probing")
        return None

    def record(self, error: errors.EcsError | None) -> None:
        if error is None and self._trusted_closed():
            return  # a success leaves a closed breaker with no failures as it is
        self._closed_seen = float("-inf")
        for _ in range(5):
            row, breaker = self._load_breaker()
            if error is None:
                new = delivery.breaker_after_success(breaker, policy=self.policy)
                if breaker == new:
                    self._note(breaker)
                    return
            elif delivery.breaker_counts(error):
                new = delivery.breaker_after_failure(breaker, self.clock(), policy=self.policy)
            else:
                return
            if self._store_breaker(row, new):
                self._note(new)
                if new.state != breaker.state:
                    log.warning("ECS circuit breaker %s", new.state.value, extra={"breaker": new.state.value})
                return

    def open_until(self) -> datetime | None:
        """Until when the breaker is open (a probe is due then); None when it is closed."""
        row = EcsBreaker.objects.filter(name="ecs").values_list("state", "open_until").first()
        if row is None or row[0] == delivery.BreakerState.CLOSED.value:
            return None
        return row[1]
