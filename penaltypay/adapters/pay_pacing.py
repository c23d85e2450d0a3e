"""The provider's published rate limit, kept from our side: every POST (create, cancel,
refund, capture) from any process or pod takes a turn from one shared schedule, spaced to
just under the limit, before it is sent (penaltypay.web.pacing, ADR 0027). A turn within
`PAY_RATE_LIMIT_MAX_WAIT_SECONDS` is waited for (the payer sees the card page a moment
later); one further off is not taken, and the payer is asked to try again shortly."""

from __future__ import annotations

import hashlib
import logging
import time

from penaltypay.kernel.metrics import PROVIDER_PACED_AWAY, PROVIDER_PACING_WAIT
from penaltypay.payments.ports import ProviderPaced
from penaltypay.web.db_pool import lend_connection_back
from penaltypay.web.pacing import TooLong, take_turn

log = logging.getLogger("penaltypay.adapters.pay_api")

# Turns leave our processes evenly spaced but reach the provider with the network's jitter,
# and its window is a sliding second: pacing at the limit itself would meet a 429 now and
# then (retried, but a wait all the same). 97 %: a 30 ms margin a second, and 95 % of the
# limit (the service's target) still reachable (ADR 0027).
SHARE_OF_LIMIT = 0.97


class ProviderPacing:
    def __init__(self, api_key: str, per_second: float, max_wait: float):
        # One schedule per API key (the provider's limit is per key); the key itself is a secret.
        self.name = "provider:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]
        self.per_second = per_second * SHARE_OF_LIMIT
        self.max_wait = max_wait

    def __call__(self, operation: str) -> None:
        """Waits for this POST's turn; raises ProviderPaced (nothing sent) when it is too far off."""
        if self.per_second <= 0:
            return
        try:
            turn = take_turn(self.name, self.per_second, self.max_wait)
        except TooLong as exc:
            PROVIDER_PACED_AWAY.labels(operation=operation).inc()
            log.warning(
                "payment provider rate limit: no turn within the wait allowed",
                extra={"operation": operation, "retry_after": round(exc.retry_after, 1)},
            )
            raise ProviderPaced("the provider's rate limit is fully booked", retry_after=exc.retry_after) from None
        wait = max(0.0, turn - time.time())
        PROVIDER_PACING_WAIT.labels(operation=operation).observe(wait)
        if wait > 0:
            lend_connection_back()  # nobody else's request waits for a connection while this one waits its turn
            time.sleep(wait)
